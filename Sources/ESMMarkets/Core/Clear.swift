import ESMGrid

/// Clears a validated problem with its mechanism. Throws `InputError` for what the mechanism
/// rejects (including `unsupported` for mechanisms not implemented yet).
public func clearMarket(_ problem: Problem, control: SolveControl = SolveControl()) throws -> MarketResult {
    var result = try dispatch(problem, control: control)
    // Last line of defense of "no number in a result is NaN or infinite" (api.md §3): input
    // limits keep the arithmetic finite, but a result that still overflowed says so.
    if !result.isFinite {
        result = MarketResult(mechanism: result.mechanism, status: .numericalError, algorithm: result.algorithm)
        result.message = "a result value overflowed: the input's magnitudes are too far apart for double precision"
    }
    return result
}

func dispatch(_ problem: Problem, control: SolveControl) throws -> MarketResult {
    switch problem.mechanism {
    case .energySharing:
        return try EnergySharing.clear(problem, control: control)
    case .twoLayer:
        return try TwoLayer.clear(problem, control: control)
    case .conic:
        return try ConicMechanism.clear(problem, control: control)
    case .twoLayerVoltage:
        return try TwoLayerVoltage.clear(problem, control: control)
    case .socialOptimum: return try SocialOptimum.clear(problem, control: control)
    case .p2pGNE: return try P2PGNE.clear(problem, control: control)
    case .p2pReconfiguration: return try P2PReconfiguration.clear(problem, control: control)
    case .p2pOnline: return try P2POnline.clear(problem, control: control)
    case .powerFlow: return try PowerFlowMechanism.clear(problem, control: control)
    }
}
