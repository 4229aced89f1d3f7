import ESMGrid

/// What the mechanisms over the SOC branch-flow model report from `RelaxationRecovery`: the
/// infeasibility finding when no AC-feasible point was found, and the message of an inexact answer.
enum RelaxationPolicy {
    /// `infeasible` when the least-violation search ended outside the limits: the worst bus of its
    /// AC power flow names the limit (`{"constraint": "vMaxPu" | "vMinPu", "bus": id}`), or
    /// `{"constraint": "powerFlow"}` when that power flow did not converge.
    static func finding(_ check: ExactnessCheck, network: Network, feeder: Feeder) -> (message: String, diagnosis: [(String, String)]) {
        let prefix = "the SOC relaxation is not exact here, and no AC-feasible point was found (least-violation search under the linearized voltage ceiling, corrected by the AC power flow): "
        guard check.powerFlow.converged, check.worstBus >= 0, check.worstBus < network.buses.count else {
            return (prefix + "the AC power flow of the closest point does not converge (\(check.powerFlow.message))",
                    [("constraint", "powerFlow")])
        }
        let id = network.buses[check.worstBus].id
        let reached = rounded(check.powerFlow.vPu[check.worstBus])
        if check.worstIsHigh {
            return (prefix + "no dispatch keeps bus \"\(id)\" at or below vMaxPu = \(describeNumber(feeder.vMax)): the closest reaches \(reached) pu",
                    [("constraint", "vMaxPu"), ("bus", id)])
        }
        return (prefix + "no dispatch keeps bus \"\(id)\" at or above vMinPu = \(describeNumber(feeder.vMin)): the closest reaches \(reached) pu",
                [("constraint", "vMinPu"), ("bus", id)])
    }

    /// The message of an answer left inexact (status `relaxation_inexact`).
    static func inexact(_ check: ExactnessCheck, state: BranchFlowSolution, feeder: Feeder) -> String {
        "the SOC relaxation is not exact (\(rounded(state.totalLossKW - check.powerFlow.totalLossKW)) kW of phantom losses, relaxation gap \(rounded(check.relaxationGap)); AC voltages \(rounded(check.minPu))…\(rounded(check.maxPu)) pu against [\(describeNumber(feeder.vMin)), \(describeNumber(feeder.vMax))]) and no AC-feasible point was recovered"
    }

    static func rounded(_ v: Double) -> String { describeNumber((v * 1e4).rounded() / 1e4) }
}
