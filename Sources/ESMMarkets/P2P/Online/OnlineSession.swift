import ESMGrid
import ESMSolver

/// The state of a p2p_online market between slots (spec §4.2): the configuration's setup, the
/// batteries' state of charge and the index of the next slot. A value type: a step that fails
/// leaves it as it was, and copies are independent (a checkpoint is a copy).
public struct OnlineSession: Sendable {
    public let setup: OnlineSetup
    /// Per prosumer (0 without storage).
    public private(set) var socKWh: [Double]
    public private(set) var slot: Int
    /// The ADMM route's consensus values, duals and ρ from the last slot (its warm start).
    var warm: OnlineADMM.Warm?
    /// Whether ADMM slots start cold (for measuring what the warm start saves).
    public var coldStarts = false

    public init(_ setup: OnlineSetup) {
        self.setup = setup
        socKWh = setup.problem.prosumers.map { $0.storage?.socKWh ?? 0 }
        slot = 0
    }

    /// Resumes at `slot` with the given states of charge (checked against each battery's bounds).
    public init(_ setup: OnlineSetup, slot: Int, socKWh: [Double]) throws {
        let people = setup.problem.prosumers
        guard socKWh.count == people.count else {
            throw InputError.invalid("socKWh", "expected \(people.count) values (one per prosumer), got \(socKWh.count)")
        }
        for (j, who) in people.enumerated() {
            guard let s = who.storage else { continue }
            guard socKWh[j] >= s.socMinKWh, socKWh[j] <= s.socMaxKWh else {
                throw InputError.invalid("socKWh[\(j)]", "\(describeNumber(socKWh[j])) kWh is outside [socMinKWh, socMaxKWh] = [\(describeNumber(s.socMinKWh)), \(describeNumber(s.socMaxKWh))] of prosumer \"\(who.id)\"")
            }
        }
        self.setup = setup
        self.socKWh = people.indices.map { people[$0].storage == nil ? 0 : socKWh[$0] }
        self.slot = slot
    }

    /// Virtual queues Q_i = E_i − Γ_i (0 without storage).
    public var queueKWh: [Double] {
        socKWh.indices.map { j in setup.lyapunov[j].map { socKWh[j] - $0.shiftKWh } ?? 0 }
    }

    /// Clears the next slot with these measurements; the state advances only when the slot is
    /// solved.
    public mutating func step(pvKW: [Double], loadKW: [Double], buyPrice: Double, sellPrice: Double,
                              control: SolveControl = SolveControl()) throws -> SlotOutcome {
        let input = SlotInput(slot: slot, pvKW: pvKW, loadKW: loadKW, buyPrice: buyPrice, sellPrice: sellPrice, socKWh: socKWh)
        var outcome: SlotOutcome
        var next: OnlineADMM.Warm?
        if setup.problem.algorithm == "admm" {
            (outcome, next) = try OnlineADMM(setup: setup, input: input).solve(warm: coldStarts ? nil : warm, control: control)
        } else {
            outcome = try OnlineSlot(setup, input).solve(control: control)
        }
        if outcome.status.hasSolution && outcome.socKWh.count == socKWh.count {
            socKWh = outcome.socKWh
            slot += 1
            warm = next
        }
        return outcome
    }
}
