import InjectorBase
import InjectorOutputs

extension MigrationPlan {
    /// The app's moved variables grouped into secrets, and how it gets each back: an env entry, a
    /// rebuilt URL, or a file its official image reads.
    mutating func group(_ app: inout AppMigration) throws(InputError) {
        var groups: [(segment: String, members: [(name: String, value: String)])] = []
        for variable in app.moved {
            let segment =
                variable.name.split(separator: "_", maxSplits: 1).count == 2
                ? String(variable.name.split(separator: "_", maxSplits: 1)[0]) : variable.name
            if let index = groups.firstIndex(where: { $0.segment == segment }) {
                groups[index].members.append(variable)
            } else {
                groups.append((segment, [variable]))
            }
        }
        for (segment, members) in groups {
            // A database URL's split, when it rebuilds the URL exactly (an official image reads no template).
            var split: (member: String, shape: DatabaseURL)?
            if app.officialImage == nil {
                for member in members {
                    if let shape = DatabaseURL(member.value), shape.rebuilds(member.value, alias: Self.alias(segment)) {
                        split = (member.name, shape)
                        break
                    }
                }
            }
            if members.count == 1 && split == nil {
                let member = members[0]
                let secret = try claim(
                    PlannedSecret(
                        name: options.prefix + member.name.lowercased().replacingAll("_", "-"), value: member.value,
                        keys: [], variables: [member.name], rotationShape: false),
                    segment: member.name, app: app)
                if app.officialImage != nil {
                    let file = app.folder + member.name.lowercased()
                    app.fileVariables.append((member.name, file))
                    secrets[secrets.firstIndex { $0.name == secret.name }!].files.append((nil, file))
                } else {
                    app.envEntries.append((member.name, secret.name))
                }
                continue
            }
            var object: [JSONValue.Member] = []
            var variables: [String] = []
            let splitUsed =
                split.map { split in
                    members.allSatisfy { $0.name == split.member || !DatabaseURL.keys.contains(Self.key($0.name)) }
                } ?? false
            if let split, splitUsed {
                object += split.shape.members
                variables.append(split.member)
            }
            for member in members where !variables.contains(member.name) {
                let key = Self.key(member.name)
                guard !object.contains(where: { $0.key == key }) else {
                    throw InputError(
                        "\(member.name): its key \"\(key)\" in \(options.prefix + segment.lowercased()) is taken by another variable; keep one with --exclude"
                    )
                }
                object.append(.init(key: key, value: .string(member.value)))
                variables.append(member.name)
            }
            let secret = try claim(
                PlannedSecret(
                    name: options.prefix + segment.lowercased(), value: JSONValue.object(object).serialized,
                    keys: object.map(\.key), variables: variables, rotationShape: object.contains { $0.key == "engine" }
                ),
                segment: segment, app: app)
            let index = secrets.firstIndex { $0.name == secret.name }!
            if let split, splitUsed {
                secrets[index].templated = true
                // `SECRETS_URL` would take the env file's own name.
                let base =
                    segment.lowercased() + ".env" == MigrationPlan.envFile
                    ? segment.lowercased() + "-url" : segment.lowercased()
                let file = app.folder + base + ".env"
                app.rebuilt.append(
                    RebuiltVariable(
                        name: split.member, secret: secret.name, alias: secret.alias, file: file,
                        template: split.shape.template(variable: split.member, alias: secret.alias)))
            }
            for member in members where member.name != split?.member || !splitUsed {
                let key = Self.key(member.name)
                if app.officialImage != nil {
                    let file = app.folder + member.name.lowercased()
                    app.fileVariables.append((member.name, file))
                    secrets[index].files.append((key, file))
                } else {
                    app.envEntries.append((member.name, "\(secret.name):\(key)::"))
                }
            }
        }
    }

    /// The secret as planned: a new one, or the same secret another app planned already (same name
    /// and value: shared), or, when another app's secret of that name holds another value, one named
    /// under this app's own folder (`PREFIX/APP/…`).
    mutating func claim(_ planned: PlannedSecret, segment: String, app: AppMigration) throws(InputError)
        -> PlannedSecret
    {
        var secret = planned
        secret.alias = Self.alias(segment)
        secret.app = app.name
        if let index = secrets.firstIndex(where: { $0.name == secret.name }) {
            // Apps that read the same value through env files share it; a file an official image
            // reads is one per app, and a secret has one file (or one per key): not shared.
            if secrets[index].value == secret.value && secrets[index].keys == secret.keys
                && secrets[index].files.isEmpty && app.officialImage == nil
            {
                secrets[index].variables += secret.variables.filter { !secrets[index].variables.contains($0) }
                return secrets[index]
            }
            guard !app.folder.isEmpty || secrets[index].value == secret.value else {
                throw InputError(
                    "\(secret.variables.joined(separator: ", ")) and \(secrets[index].variables.joined(separator: ", ")) would both become \(secret.name); keep one with --exclude"
                )
            }
            secret.name = options.prefix + app.folder + secret.name.dropFirst(options.prefix.count)
            secret.alias = Self.alias(String(app.folder.dropLast()).replacingAll("-", "_") + "_" + segment)
            if secrets.contains(where: { $0.name == secret.name }) {
                throw InputError(
                    "\(secret.variables.joined(separator: ", ")) of \(app.name) would become \(secret.name), which another variable takes; keep one with --exclude"
                )
            }
        }
        while secrets.contains(where: { $0.alias == secret.alias }) { secret.alias += "_" }
        secrets.append(secret)
        return secret
    }

    /// `ZOHO_CLIENT_SECRET` → `client_secret`.
    static func key(_ name: String) -> String {
        let parts = name.split(separator: "_", maxSplits: 1)
        return (parts.count == 2 ? String(parts[1]) : name).lowercased()
    }

    /// A template alias for a group: its segment lowercased, a valid identifier.
    static func alias(_ segment: String) -> String {
        let lowered = segment.lowercased()
        return (lowered.first?.isNumber ?? true) ? "_" + lowered : lowered
    }
}
