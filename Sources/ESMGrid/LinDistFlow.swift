import ESMSolver

/// LinDistFlow: the branch flow model without losses (Baran–Wu's linearization), per unit.
///
///   P_j − Σ_{k child of j} P_k + p_j^inj − p_j^load = 0
///   Q_j − Σ_{k child of j} Q_k + b_j v_j + q_j^inj − q_j^load = 0
///   v_j = v_par(j) − 2 (r_j P_j + x_j Q_j),      v_root = vSubstation²
///   vMin² ≤ v_j ≤ vMax²,      ‖(P_j, Q_j)‖ ≤ rating_j  (second-order cone, rated lines)
///
/// Squared voltages are linear in the flows, so with fixed injections the voltages are exact up
/// to the neglected loss terms (the error grows with the square of the currents). The capacitor
/// term b·v is exact in v.
extension Feeder {
    public func addLinDistFlow(to builder: inout ConicBuilder, injections: BusInjections,
                               options: BranchFlowOptions = BranchFlowOptions()) -> BranchFlowModel {
        let (p, q, v) = addFlowVariables(to: &builder, prefix: options.namePrefix)
        let none = [Int](repeating: -1, count: busCount)
        var model = addBranchFlowCore(to: &builder, injections: injections, options: options, model: .lindistflow,
                                      l: none, p: p, q: q, v: v)
        if options.thermalLimits, rating.contains(where: { $0 != nil }) {
            let g = builder.addGroup(options.namePrefix + "thermal limits", .secondOrder)
            for bus in 0..<busCount where parent[bus] >= 0 {
                guard let rate = rating[bus] else { continue }
                builder.addSecondOrderCone(g, [.constant(rate), .variable(p[bus]), .variable(q[bus])])
            }
            model.thermalLimits = g
        }
        return model
    }
}
