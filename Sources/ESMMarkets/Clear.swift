import ESMGrid

/// Clears a validated problem with its mechanism. Throws `InputError` for what the mechanism
/// rejects (including `unsupported` for mechanisms not implemented yet).
public func clearMarket(_ problem: Problem, control: SolveControl = SolveControl()) throws -> MarketResult {
    switch problem.mechanism {
    case .energySharing:
        return try EnergySharing.clear(problem, control: control)
    case .twoLayer:
        return try TwoLayer.clear(problem, control: control)
    case .conic:
        return try ConicMechanism.clear(problem, control: control)
    case .socialOptimum: return try SocialOptimum.clear(problem, control: control)
    default:
        throw InputError.unsupported("mechanism", "mechanism \"\(problem.mechanism.rawValue)\" is not implemented yet in this version")
    }
}
