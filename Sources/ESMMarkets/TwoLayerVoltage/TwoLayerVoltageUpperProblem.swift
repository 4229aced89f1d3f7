import ESMGrid
import ESMSolver

/// The upper layer of `two_layer_voltage` (spec §3.8–3.9) as one conic program: the feeder's SOC
/// branch-flow model, each community's injection G_i and generation cost C_i tied together by its
/// best-response table, and the social cost π_g·P₀ + Σ_i C_i(G_i).
///
/// Only (G_i, C_i) reach the network and the objective, so each community enters through its cost
/// as a function of its injection, C_i(G) (`CommunityBestResponse.costSegments`); the upper price
/// is recovered from G_i afterwards (`TwoLayerVoltage.recover`). How C_i(G) is written:
/// * `convex` (C_i convex — checked exactly from the table): the segment form
///   G = G_low + Σ_k δ_k, 0 ≤ δ_k ≤ length_k, cost Σ_k slope_k·δ_k + curvature_k/2·δ_k². The
///   marginal costs rise from segment to segment, so the cheapest way to reach any G fills them in
///   order and the cost is C_i(G) exactly — no binaries.
/// * `misocp` (the disjunctive encoding of spec §3.9, one binary per segment): z_k ∈ {0, 1},
///   Σ z_k = 1, 0 ≤ u_k ≤ length_k·z_k, G = Σ_k (G_low,k·z_k + u_k), cost Σ_k C_low,k·z_k +
///   slope_k·u_k + curvature_k/2·s_k with s_k·z_k ≥ u_k² (a rotated cone, the perspective of u²).
///   With z relaxed to [0, 1] this is the convex hull of the graph.
/// * `fixed`: the injection does not depend on the upper price.
/// Segment offsets u_k (rather than copies of G) keep the numbers of order one per unit.
struct TwoLayerVoltageUpperProblem {
    enum Form {
        case fixed
        case convex([CommunityBestResponse.CostSegment])
        case disjunctive([CommunityBestResponse.CostSegment])
    }

    let setup: PeriodSetup
    let buses: [Int]
    /// Fixed reactive demand of each community, kVAr.
    let reactiveKVAr: [Double]
    /// Injection of the communities whose injection is fixed, kW.
    let fixedInjectionKW: [Double]
    let forms: [Form]

    struct Assembled {
        var builder: ConicBuilder
        var flow: BranchFlowModel
        var injections: BusInjections
        /// Each community's injection, kW, as an expression of the variables.
        var communityInjectionKW: [LinearExpression]
    }

    func assemble() -> Assembled {
        let feeder = setup.feeder
        let base = feeder.baseKVA
        let scale = setup.priceScale
        var builder = ConicBuilder()
        let n = feeder.busCount
        var active = [LinearExpression](repeating: .zero, count: n)
        var reactive = [LinearExpression](repeating: .zero, count: n)
        var communityInjection: [LinearExpression] = []
        let bounds = builder.addGroup("segment bounds", .nonnegative)
        let disjunctive = forms.contains { if case .disjunctive = $0 { return true } else { return false } }
        let choice = disjunctive ? builder.addGroup("one piece per community", .zero) : bounds
        let perspective = disjunctive ? builder.addGroup("piece cost perspectives", .secondOrder) : bounds
        for (i, form) in forms.enumerated() {
            var g = LinearExpression.zero
            switch form {
            case .fixed:
                g.constant = fixedInjectionKW[i]
            case .convex(let segments):
                g.constant = segments.first?.injectionLow ?? fixedInjectionKW[i]
                let block = builder.addVariables("community \(i) segments", count: segments.count)
                for (k, segment) in segments.enumerated() {
                    let delta = block[k]
                    builder.addGreaterEqual(bounds, .variable(delta), 0)
                    builder.addLessEqual(bounds, .variable(delta), segment.length / base)
                    g.add(delta, base)
                    if segment.slopeLow != 0 { builder.addLinearCost(delta, segment.slopeLow / scale) }
                    if segment.curvature != 0 { builder.addQuadraticCost(delta, segment.curvature * base / scale) }
                }
            case .disjunctive(let segments):
                let z = builder.addVariables("community \(i) piece choice", count: segments.count)
                let u = builder.addVariables("community \(i) piece offsets", count: segments.count)
                var sum = LinearExpression.zero
                for (k, segment) in segments.enumerated() {
                    builder.markBinary(z[k])
                    sum.add(z[k], 1)
                    builder.addGreaterEqual(bounds, .variable(u[k]), 0)
                    builder.addLessEqual(bounds, LinearExpression([LinearTerm(u[k], 1), LinearTerm(z[k], -segment.length / base)]), 0)
                    g.add(z[k], segment.injectionLow)
                    g.add(u[k], base)
                    builder.addLinearCost(z[k], segment.costLow / (scale * base))
                    if segment.slopeLow != 0 { builder.addLinearCost(u[k], segment.slopeLow / scale) }
                    if segment.curvature > 0 {
                        let s = builder.addVariable("community \(i) piece \(k) u²/z")
                        builder.addSecondOrderCone(perspective, [
                            LinearExpression([LinearTerm(s, 1), LinearTerm(z[k], 1)]),
                            .variable(u[k], 2),
                            LinearExpression([LinearTerm(s, 1), LinearTerm(z[k], -1)]),
                        ])
                        builder.addLinearCost(s, 0.5 * segment.curvature * base / scale)
                    }
                }
                builder.addEquality(choice, sum, 1)
            }
            communityInjection.append(g)
            active[buses[i]].add(g)
            reactive[buses[i]].constant -= reactiveKVAr[i]
        }
        let injections = BusInjections(activeKW: active, reactiveKVAr: reactive)
        let flow = feeder.addModel(.socp, to: &builder, injections: injections, options: setup.branchFlowOptions())
        setup.addSubstationCost(to: &builder, flow: flow, weight: 1)
        return Assembled(builder: builder, flow: flow, injections: injections, communityInjectionKW: communityInjection)
    }
}
