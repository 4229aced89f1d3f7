import ESMGrid

/// Mechanism `power_flow`: no market, the exact AC power flow (`Feeder.powerFlow`, a
/// backward/forward sweep) of given injections, period by period, so that any dispatch can be
/// checked on the real feeder. What a bus consumes in period t is its passive load plus the net
/// demand (loadKW − pvKW, qLoadKVAr) of the prosumers attached to it; its shunts act at |V|².
///
/// `solved` when every period converged. A period that does not (voltage collapse of an
/// overloaded feeder, or `maxIterations` sweeps without meeting the tolerance) makes the result
/// `infeasible`, diagnosed `{"constraint": "powerFlow", "period": t, "bus": the lowest-voltage
/// bus of the last finite state}`; the tables then hold that last finite state.
enum PowerFlowMechanism {
    /// Sweeps per period unless `options.maxIterations` says otherwise: the sweep converges
    /// linearly, slowly near the loadability limit, and each sweep is O(buses).
    static let defaultMaxIterations = 1000

    static func finite(_ v: Double) -> Double { v.isFinite ? v : 0 }

    static func clear(_ problem: Problem, control: SolveControl) throws -> MarketResult {
        guard let network = problem.network, let tree = problem.tree else {
            throw InputError.invalid("network", "missing required key \"network\": power_flow computes the flows of a feeder")
        }
        let periods = max(problem.periods, 1)
        let n = network.buses.count, lineCount = network.lines.count
        var result = MarketResult(mechanism: .powerFlow, status: .solved, algorithm: problem.algorithm)
        if control.stopsAtStart(#"{"event":"start","mechanism":"power_flow","buses":\#(n),"periods":\#(periods)}"#, &result) {
            return result
        }

        // The prosumers' net demand at their bus, kW / kVAr per period (an injection is its negative).
        var netKW = [Double](repeating: 0, count: n * periods), netKVAr = netKW
        for prosumer in problem.prosumers {
            guard let bus = prosumer.bus, bus >= 0, bus < n else { continue }
            for t in 0..<periods {
                let p = prosumer.loadKW[t] - prosumer.pvKW[t], q = prosumer.qLoadKVAr[t]
                netKW[bus * periods + t] += p
                netKVAr[bus * periods + t] += q
            }
        }
        // The prosumers' part of the feeder's size, for the per-unit base (`Feeder.init`).
        var totalScale = 0.0
        for t in 0..<periods {
            var total = 0.0
            for bus in 0..<n { total += abs(netKW[bus * periods + t]) + abs(netKVAr[bus * periods + t]) }
            totalScale = max(totalScale, total)
        }

        var settings = PowerFlowSettings()
        settings.tolerance = problem.options.tolerance
        settings.maxIterations = problem.options.maxIterations ?? defaultMaxIterations

        let flows = parallelMap(periods, threads: problem.options.threads) { t -> PowerFlowResult? in
            if control.pastDeadline { return nil }
            guard let feeder = try? Feeder(network: network, tree: tree, period: t, scaleKVA: totalScale) else { return nil }
            var kW = [Double](repeating: 0, count: n), kVAr = kW
            for bus in 0..<n {
                kW[bus] = -netKW[bus * periods + t]
                kVAr[bus] = -netKVAr[bus * periods + t]
            }
            return feeder.powerFlow(injectionKW: kW, injectionKVAr: kVAr, settings: settings)
        }

        var vPu = [Double](repeating: 0, count: n * periods), angleDeg = vPu
        var pKW = [Double](repeating: 0, count: lineCount * periods), qKVAr = pKW, lossKW = pKW, lossKVAr = pKW
        var loading = pKW
        var substationKW = [Double](repeating: 0, count: periods), substationKVAr = substationKW
        var lossesKW = substationKW, shuntLossKW = substationKW
        var sweepsMax = 0, mismatchMax = 0.0
        var failed: (period: Int, flow: PowerFlowResult)?
        var timedOut = false
        for t in 0..<periods {
            guard let flow = flows[t] else {
                timedOut = true
                continue
            }
            for bus in 0..<n {
                vPu[bus * periods + t] = flow.vPu[bus]
                angleDeg[bus * periods + t] = flow.angleDeg[bus]
            }
            for k in 0..<lineCount {
                let r = k * periods + t
                pKW[r] = flow.pKW[k]
                qKVAr[r] = flow.qKVAr[k]
                lossKW[r] = flow.lossKW[k]
                lossKVAr[r] = flow.lossKVAr[k]
                if let rate = network.lines[k].rateKVA, rate > 0 {
                    // The worse end: the from end's apparent power, or the to end's (from-end flow
                    // less the series loss).
                    let from = (flow.pKW[k] * flow.pKW[k] + flow.qKVAr[k] * flow.qKVAr[k]).squareRoot()
                    let toP = flow.pKW[k] - flow.lossKW[k], toQ = flow.qKVAr[k] - flow.lossKVAr[k]
                    let to = (toP * toP + toQ * toQ).squareRoot()
                    loading[r] = finite(max(from, to) / rate * 100)
                }
            }
            substationKW[t] = flow.substationPKW
            substationKVAr[t] = flow.substationQKVAr
            lossesKW[t] = finite(flow.totalLossKW + flow.shuntLossKW)
            shuntLossKW[t] = flow.shuntLossKW
            sweepsMax = max(sweepsMax, flow.iterations)
            mismatchMax = max(mismatchMax, flow.maxMismatchKVA)
            if !flow.converged && failed == nil { failed = (t, flow) }
        }

        if let failed {
            let bus = network.buses[failed.flow.vMinBus].id
            result.status = .infeasible
            // Beyond the loadability limit the sweep does not settle (it oscillates or collapses);
            // a solvable feeder converges in tens of sweeps, so the limit is rarely the cause.
            let hint = failed.flow.iterations >= settings.maxIterations ? " (past the feeder's loadability, or too few options.maxIterations)" : ""
            result.message = "no AC power flow in period \(failed.period): \(failed.flow.message)\(hint); lowest voltage "
                + "\(failed.flow.vMinPu) pu at bus \"\(bus)\" in the last sweep"
            result.diagnosis = [("constraint", "powerFlow"), ("bus", bus), ("period", "\(failed.period)")]
        } else if timedOut {
            result.status = .timeLimit
            result.message = "options.timeLimitSeconds reached: periods not computed hold zeros"
        }

        result.fields = [("substationKW", .perPeriod(substationKW)), ("substationKVAr", .perPeriod(substationKVAr)),
                         ("lossesKW", .perPeriod(lossesKW)), ("shuntLossKW", .perPeriod(shuntLossKW))]
        var buses = ResultTable(ids: network.buses.map(\.id), periods: periods)
        buses.addColumn("vPu", vPu)
        buses.addColumn("angleDeg", angleDeg)
        var lines = ResultTable(ids: network.lines.map(\.id), periods: periods)
        lines.addTextColumn("from", network.lines.map { network.buses[$0.from].id })
        lines.addTextColumn("to", network.lines.map { network.buses[$0.to].id })
        lines.addFlagColumn("closed", network.lines.map(\.closed))
        lines.addColumn("pKW", pKW)
        lines.addColumn("qKVAr", qKVAr)
        lines.addColumn("lossKW", lossKW)
        lines.addColumn("lossKVAr", lossKVAr)
        if network.lines.contains(where: { ($0.rateKVA ?? 0) > 0 }) { lines.addColumn("loadingPct", loading) }
        result.tables = [("buses", buses), ("lines", lines)]
        result.quality = [("converged", failed == nil && !timedOut ? 1 : 0), ("maxMismatchKVA", mismatchMax)]
        result.iterations = sweepsMax
        _ = control.report(#"{"event":"done","mechanism":"power_flow","status":"\#(result.status.rawValue)","iterations":\#(sweepsMax)}"#)
        return result
    }
}
