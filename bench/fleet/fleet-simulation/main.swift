import ArgumentParser
import FleetSimulation
import FoundationEssentials
import InjectorBase
import InjectorRefresh
import InjectorSources

/// `scripts/bench fleet`: the fleet simulation (bench/fleet/FleetSimulation) from the command line.
struct FleetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet-simulation",
        abstract: "Simulates a fleet of secrets-injector sidecars against one account's Secrets Manager quotas.")

    @Option(help: "Tasks in the fleet.") var tasks = 10_000
    @Option(help: "Secrets each task reads.") var secrets = 4
    @Option(help: "Refresh interval, seconds.") var interval = 300.0
    @Option(help: "All tasks start within this many seconds.") var startWindow = 60.0
    @Option(help: "Simulated seconds (default: the start window and four intervals).") var duration: Double?
    @Option(help: "Refresh strategy: auto, list, describe, get.") var strategy = "auto"
    @Option(help: "Task-role policy: minimal, describe, batch, recommended.") var policy = "recommended"
    @Flag(help: "Find the secrets by one name prefix instead of naming them.") var discover = false
    @Option(help: "Seed of every random choice.") var seed: UInt64 = 1
    @Option(help: "Parameter Store parameters each task reads as well.") var parameters = 0
    @Option(help: "Parameter Store throughput: standard (40/s) or higher (3,000/s).") var parameterThroughput =
        "standard"
    @Option(help: "Rotate this secret (fleet/app/s0 …) with single-user semantics.") var rotate: String?
    @Option(help: "setSecret at this many seconds (finishSecret 4 s later).") var at: Double?
    @Option(help: "The sidecar's refresh.minRefreshSeconds.") var minRefresh = 5.0
    @Flag(help: "The apps wait for the sidecar's rounds instead of asking POST /refresh.") var noAppRefresh = false
    @Flag(help: "The apps run under exec: no refresh code, restarted after --settle and a random --splay.")
    var exec = false
    @Option(help: "exec.settleSeconds, with --exec.") var settle = 2.0
    @Option(help: "exec.splaySeconds, with --exec.") var splay = 0.0
    @Flag(help: "Print one JSON object.") var json = false
    @Flag(help: "Print Secrets Manager calls per hour for one task, per strategy and policy.") var callsPerHour = false

    func run() throws {
        guard let strategy = RefreshStrategy(rawValue: strategy) else {
            throw ValidationError("--strategy must be one of auto, list, describe, get")
        }
        guard let policy = Policy(rawValue: policy) else {
            throw ValidationError("--policy must be one of minimal, describe, batch, recommended")
        }
        if callsPerHour {
            printCallsPerHour()
            return
        }
        var scenario = FleetScenario(
            tasks: tasks, secrets: secrets, intervalSeconds: interval, startWindowSeconds: startWindow,
            durationSeconds: duration, strategy: strategy, policy: policy, discover: discover, seed: seed)
        guard let throughput = ParameterThroughput(rawValue: parameterThroughput) else {
            throw ValidationError("--parameter-throughput must be standard or higher")
        }
        scenario.parameters = parameters
        scenario.parameterThroughput = throughput
        if let rotate {
            let names = (0..<secrets).map { "fleet/app/s\($0)" }
            guard !discover, names.contains(rotate) else {
                throw ValidationError("--rotate must name one of \(names.joined(separator: ", ")) (without --discover)")
            }
            guard let at, at >= startWindow else {
                throw ValidationError(
                    "--rotate needs --at SECONDS, at or after the start window (\(Int(startWindow)) s)")
            }
            var rotation = RotationScenario(secret: rotate, setSecretAt: at, appRefresh: !noAppRefresh && !exec)
            rotation.minRefreshSeconds = minRefresh
            if exec { rotation.execRestart = (settle, splay) }
            scenario.rotation = rotation
        } else if at != nil || noAppRefresh || exec {
            throw ValidationError("--at, --no-app-refresh and --exec go with --rotate SECRET")
        }
        let report = Fleet.simulate(scenario)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(
                "\(report.tasks) tasks × \(report.secrets) secrets\(report.parameters > 0 ? " and \(report.parameters) parameters (\(report.parameterThroughput) throughput)" : ""), interval \(Int(report.intervalSeconds)) s, start window \(Int(report.startWindowSeconds)) s, policy \(report.policy), strategy \(report.strategy)"
            )
            print(
                "ready \(report.ready)/\(report.tasks): p50 \(report.readyP50Seconds) s, p99 \(report.readyP99Seconds) s, max \(report.readyMaxSeconds) s; restarts \(report.restarts), failed rounds \(report.failedRounds)"
            )
            for (name, figures) in report.operations.sorted(by: { $0.key < $1.key }) {
                let share = (figures.meanPerSecond / figures.quotaPerSecond * 10_000).rounded() / 100
                print(
                    "\(name): steady mean \(figures.meanPerSecond)/s (\(share) % of \(Int(figures.quotaPerSecond))/s), peak \(figures.peakPerSecond)/s, throttled \(figures.throttled)\(figures.lastThrottledSecond.map { " (the last at \($0) s)" } ?? ""), total \(figures.total)"
                )
            }
            print("bill (\(report.billBasis)):")
            for (name, line) in report.bill.sorted(by: { $0.key < $1.key })
            where name != "total" && line.callsPerTaskHour > 0 {
                print(
                    "  \(name): \(line.callsPerTaskHour) calls per task-hour, $\(line.dollarsPerMonth) a month for \(report.tasks) tasks ($\(line.dollarsPer10000Calls) per 10,000)"
                )
            }
            if let total = report.bill["total"] {
                print("  total: \(total.callsPerTaskHour) calls per task-hour, $\(total.dollarsPerMonth) a month")
            }
            if let rotation = report.rotation {
                print(
                    "rotation of \(rotation.secret): setSecret at \(rotation.setSecretAtSeconds) s, finishSecret at \(rotation.finishSecretAtSeconds) s, apps \(rotation.appRestarts != nil ? "under exec (settle \(rotation.execSettleSeconds ?? 0) s, splay \(rotation.execSplaySeconds ?? 0) s)" : rotation.appRefresh ? "POST /refresh on a failed login" : "wait for the rounds")"
                )
                if let restarts = rotation.appRestarts {
                    print(
                        "exec restarts: \(restarts), peak \(rotation.appRestartsPeakPerSecond ?? 0)/s, p50 \(rotation.appRestartP50Seconds ?? 0) s and max \(rotation.appRestartMaxSeconds ?? 0) s after finishSecret"
                    )
                }
                print(
                    "pickup after finishSecret: \(rotation.pickedUp)/\(report.tasks) tasks, p50 \(rotation.pickupP50Seconds) s, p99 \(rotation.pickupP99Seconds) s, max \(rotation.pickupMaxSeconds) s"
                )
                print(
                    "failed logins per task: mean \(rotation.failedLoginsPerTaskMean), p99 \(rotation.failedLoginsPerTaskP99), max \(rotation.failedLoginsPerTaskMax); refreshes \(rotation.refreshes), of which checks \(rotation.refreshChecks)"
                )
                for (name, peak) in rotation.peakPerSecond.sorted(by: { $0.key < $1.key }) where peak > 0 {
                    print(
                        "\(name) from setSecret on: peak \(peak)/s, \((rotation.peakShareOfQuota[name] ?? 0) * 100) % of its quota"
                    )
                }
            }
        }
    }

    /// One task, four named secrets, interval 300 s: requests per operation in an hour of steady
    /// state (the second and third hours, averaged), per policy and strategy; and the first
    /// generation's calls.
    func printCallsPerHour() {
        print(
            "| policy | strategy | strategy used | GetSecretValue | BatchGetSecretValue | DescribeSecret | ListSecrets | first generation |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for policy in Policy.allCases {
            for strategy in RefreshStrategy.allCases {
                func run(_ seconds: Double) -> FleetReport {
                    Fleet.simulate(
                        FleetScenario(
                            tasks: 1, secrets: secrets, intervalSeconds: interval, startWindowSeconds: 0,
                            durationSeconds: seconds, strategy: strategy, policy: policy, discover: discover, seed: seed
                        ))
                }
                let (start, firstHour, threeHours) = (run(1), run(3600), run(3 * 3600))
                let columns = ["GetSecretValue", "BatchGetSecretValue", "DescribeSecret", "ListSecrets"].map {
                    (name: String) -> String in
                    let calls = (threeHours.operations[name]?.total ?? 0) - (firstHour.operations[name]?.total ?? 0)
                    return calls % 2 == 0 ? "\(calls / 2)" : "\(Double(calls) / 2)"
                }
                let first = start.operations.filter { $0.value.total > 0 }.sorted { $0.key < $1.key }
                    .map { "\($0.value.total) \($0.key)" }.joined(separator: " + ")
                print(
                    "| \(policy.rawValue) | \(strategy.rawValue) | \(threeHours.strategy) | \(columns.joined(separator: " | ")) | \(first) |"
                )
            }
        }
    }
}

FleetCommand.main()
