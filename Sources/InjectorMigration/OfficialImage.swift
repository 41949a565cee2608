import InjectorBase
import InjectorOutputs

/// The official images (Docker Hub's library, as their `docker-entrypoint.sh` reads them) that take
/// a variable from a file named by `NAME_FILE`, so that their container needs no command wrapped.
public enum OfficialImage: String, Sendable {
    case postgres, mysql, mariadb, mongo

    /// The image's repository name alone, or under `library/` on any registry
    /// (`postgres:16`, `docker.io/library/postgres`, `public.ecr.aws/docker/library/mysql:8`).
    init?(image: String) {
        var path = Substring(image)
        if let at = path.firstIndex(of: "@") { path = path[..<at] }
        if let colon = path.lastIndex(of: ":"), !path[colon...].contains("/") { path = path[..<colon] }
        let parts = path.split(separator: "/")
        guard let last = parts.last, parts.count == 1 || parts.dropLast().last == "library" else { return nil }
        self.init(rawValue: String(last))
    }

    /// The variables its entrypoint reads through `file_env` (docker-library/postgres, mysql and mongo,
    /// MariaDB/mariadb-docker: `docker-entrypoint.sh`).
    var fileVariables: Set<String> {
        switch self {
        case .postgres: ["POSTGRES_PASSWORD", "POSTGRES_USER", "POSTGRES_DB", "POSTGRES_INITDB_ARGS"]
        case .mysql: ["MYSQL_ROOT_HOST", "MYSQL_DATABASE", "MYSQL_USER", "MYSQL_PASSWORD", "MYSQL_ROOT_PASSWORD"]
        case .mariadb:
            [
                "MYSQL_ROOT_HOST", "MYSQL_DATABASE", "MYSQL_USER", "MYSQL_PASSWORD", "MYSQL_ROOT_PASSWORD",
                "MARIADB_ROOT_HOST", "MARIADB_DATABASE", "MARIADB_USER", "MARIADB_PASSWORD", "MARIADB_ROOT_PASSWORD",
                "MARIADB_PASSWORD_HASH", "MARIADB_ROOT_PASSWORD_HASH", "MARIADB_REPLICATION_USER",
                "MARIADB_REPLICATION_PASSWORD", "MARIADB_REPLICATION_PASSWORD_HASH", "MARIADB_MASTER_HOST",
                "MARIADB_MASTER_PORT", "MARIADB_USER_HOST",
            ]
        case .mongo: ["MONGO_INITDB_ROOT_USERNAME", "MONGO_INITDB_ROOT_PASSWORD"]
        }
    }
}
