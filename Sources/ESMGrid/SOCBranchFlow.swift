import ESMSolver

/// The branch flow model (DistFlow) with the second-order cone relaxation, per unit.
///
///   P_j − r_j ℓ_j − Σ_{k child of j} P_k + p_j^inj − p_j^load = 0
///   Q_j − x_j ℓ_j − Σ_{k child of j} Q_k + b_j v_j + q_j^inj − q_j^load = 0
///   v_j = v_par(j) − 2 (r_j P_j + x_j Q_j) + (r_j² + x_j²) ℓ_j,      v_root = vSubstation²
///   P_j² + Q_j² ≤ v_par(j) ℓ_j   written   ‖(2P_j, 2Q_j, v_par(j) − ℓ_j)‖ ≤ v_par(j) + ℓ_j
///   vMin² ≤ v_j ≤ vMax²
///   ‖(P_j, Q_j)‖ ≤ rating_j  and  ‖(P_j − r_j ℓ_j, Q_j − x_j ℓ_j)‖ ≤ rating_j   (rated lines)
///
/// P_j is the flow at the parent's end of branch j, so the cone uses the parent's voltage.
/// A zero-impedance branch (switch, ideal regulator) gets no ℓ: v_j = v_par, no loss.
/// The relaxation is exact when the objective rewards a lower substation import and no upper
/// voltage limit binds under reverse flow; check `BranchFlowSolution.relaxationGapPu` / `relaxationLossKVA`.
extension Feeder {
    public func addSOCBranchFlow(to builder: inout ConicBuilder, injections: BusInjections,
                                 options: BranchFlowOptions = BranchFlowOptions()) -> BranchFlowModel {
        let prefix = options.namePrefix
        let (p, q, v) = addFlowVariables(to: &builder, prefix: prefix)
        var l = [Int](repeating: -1, count: busCount)
        let lossy = (0..<busCount).filter { parent[$0] >= 0 && !zeroImpedance[$0] }
        let lBlock = builder.addVariables(prefix + "l", count: lossy.count)
        for (i, bus) in lossy.enumerated() { l[bus] = lBlock[i] }

        var model = addBranchFlowCore(to: &builder, injections: injections, options: options, model: .socp,
                                      l: l, p: p, q: q, v: v)

        let cones = builder.addGroup(prefix + "branch cones", .secondOrder)
        for bus in lossy {
            let vp = v[parent[bus]], lj = l[bus]
            builder.addSecondOrderCone(cones, [
                LinearExpression([LinearTerm(vp, 1), LinearTerm(lj, 1)]),
                .variable(p[bus], 2), .variable(q[bus], 2),
                LinearExpression([LinearTerm(vp, 1), LinearTerm(lj, -1)]),
            ])
        }
        model.branchCones = cones
        if options.lossPenalty > 0 && options.lossPenalty.isFinite {
            for bus in lossy { builder.addLinearCost(l[bus], options.lossPenalty * (r[bus] * r[bus] + x[bus] * x[bus]).squareRoot()) }
        }
        if let ceiling = options.voltageCeiling {
            model.ceiling = addVoltageCeiling(ceiling, to: &builder, p: p, q: q, l: l, v: v, options: options)
        }

        if options.thermalLimits, rating.contains(where: { $0 != nil }) {
            let g = builder.addGroup(prefix + "thermal limits", .secondOrder)
            for bus in 0..<busCount where parent[bus] >= 0 {
                guard let rate = rating[bus] else { continue }
                builder.addSecondOrderCone(g, [.constant(rate), .variable(p[bus]), .variable(q[bus])])
                if l[bus] >= 0 {
                    builder.addSecondOrderCone(g, [
                        .constant(rate),
                        LinearExpression([LinearTerm(p[bus], 1), LinearTerm(l[bus], -r[bus])]),
                        LinearExpression([LinearTerm(q[bus], 1), LinearTerm(l[bus], -x[bus])]),
                    ])
                }
            }
            model.thermalLimits = g
        }
        return model
    }
}
