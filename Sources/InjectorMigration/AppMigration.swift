import InjectorBase
import InjectorOutputs

/// One secret `migrate` creates: its name and its exact `SecretString`.
public struct PlannedSecret: Sendable, Equatable {
    public var name: String
    public var value: String
    /// The JSON keys, in order; empty for a plain-string secret.
    public var keys: [String]
    /// The variables it holds (of every app that shares it).
    public var variables: [String]
    /// In the shape AWS's rotation functions read (a split database URL).
    public var rotationShape: Bool
    /// Its template alias in `injector.json`.
    var alias: String = ""
    /// The app whose folder its own files go to (the first that uses it).
    var app: String = ""
    /// A template reads it: `injector.json` lists it under `secrets` (its JSON in `FOLDER/ALIAS.json`).
    var templated = false
    /// Files an official image reads through `NAME_FILE`: the whole value (key nil) or one key's.
    var files: [(key: String?, file: String)] = []

    public static func == (left: PlannedSecret, right: PlannedSecret) -> Bool {
        left.name == right.name && left.value == right.value && left.keys == right.keys
            && left.variables == right.variables && left.rotationShape == right.rotationShape
    }
}

/// A variable rebuilt from a secret's keys by a template: `NAME="…"` in a file of its own.
struct RebuiltVariable {
    var name: String
    var secret: String
    var alias: String
    var file: String
    var template: String
}

/// One app container's part of a migration: which of its variables move, into which secrets, and
/// how it gets each back.
public struct AppMigration {
    public let name: String
    /// Its files' folder below the output folder: "" when it is the only app, "NAME/" when several
    /// apps share the volume (ECS mounts a volume whole, so each app sees the others' folders).
    public let folder: String
    /// The official database image it runs, which reads `NAME_FILE` (``OfficialImage``).
    public let officialImage: OfficialImage?
    /// Its group, from its `user` (`uid:gid`), when that names one.
    public let group: Int?
    /// The moved variables and their old values (for `verify`), in the task definition's order.
    public internal(set) var moved: [(name: String, value: String)] = []
    public internal(set) var stayed: [String] = []
    /// `secrets[]` entries carried over to the injector (their `valueFrom` in the injector's form:
    /// a Parameter Store name ECS takes bare becomes `parameter/NAME`), and those left to ECS (a
    /// `valueFrom` neither a secret nor a parameter).
    public internal(set) var carried: [(name: String, valueFrom: String)] = []
    public internal(set) var leftToECS: [(name: String, valueFrom: String)] = []
    /// Flagged variables its official image reads from its environment only: they stay there.
    public internal(set) var keptForImage: [String] = []
    /// `env.entries`: `(name, valueFrom)`, moved variables first, then carried `secrets[]`.
    var envEntries: [(name: String, valueFrom: String)] = []
    var rebuilt: [RebuiltVariable] = []
    /// Variables its image reads through `NAME_FILE`, and the file each is written to.
    public internal(set) var fileVariables: [(name: String, file: String)] = []

    var envFile: String { folder + MigrationPlan.envFile }

    /// The dotenv files the app reads, in the order its variables come back.
    public var appFiles: [String] {
        (envEntries.isEmpty ? [] : [envFile])
            + rebuilt.map(\.file).reduce(into: []) { if !$0.contains($1) { $0.append($1) } }
    }
}
