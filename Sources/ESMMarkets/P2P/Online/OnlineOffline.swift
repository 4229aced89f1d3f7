import ESMGrid
import ESMSolver

/// Route `offline` of p2p_online (spec §7 C7): the perfect-foresight optimum of the same costs,
/// the lower bound an online policy is measured against. The online policy (`centralized`) runs
/// first over the document's periods; then one multi-period QP minimizes Σ_t Σ_i C_i(t) over the
/// same prosumer blocks (`P2PProsumerModel` over the whole horizon: the batteries' dynamics link
/// the periods, with their bounds in every period), reciprocity of trades and each period's
/// LinDistFlow limits, with every battery ending at least where the online policy left it
/// (E_i(T) ≥ online E_i(T): without it the optimum would empty the batteries, which no causal
/// policy is asked to do; ≥ rather than = keeps it a lower bound of the online cost). The result
/// is the offline schedule in the online result's layout, with `onlineCost`, `offlineCost` and
/// their difference `onlineGap` (≥ 0 up to the tolerance; the theory bounds its average per slot
/// by Σ B_i/V_i, `gapBound`).
enum OnlineOffline {
    static func clear(_ problem: Problem, setup: OnlineSetup, control: SolveControl) throws -> MarketResult {
        var result = MarketResult(mechanism: .p2pOnline, status: .solved, algorithm: "offline")
        let started = monotonicSeconds()
        let online = try P2POnline.run(setup, control: control)
        guard online.failure == nil else {
            var failed = online.failure ?? result
            failed.algorithm = "offline"
            failed.message = "the online run the offline optimum is compared with stopped: " + failed.message
            failed.solveSeconds = monotonicSeconds() - started
            return failed
        }
        let periods = problem.periods
        let units = setup.units
        let grid = problem.grid ?? GridTariff(buyPrice: [0], sellPrice: [0])
        var people = problem.prosumers
        for j in people.indices where people[j].storage != nil {
            if let last = online.outcomes.last, j < last.socKWh.count, let s = people[j].storage {
                people[j].storage?.socFinalMinKWh = min(max(last.socKWh[j], s.socMinKWh), s.socMaxKWh)
            }
        }

        var builder = ConicBuilder()
        var model = P2PProsumerModel(periods: periods, units: units, grid: grid, graph: setup.graph, prosumers: people)
        model.curtailablePV = true
        let groups = P2PProsumerModel.Groups(in: &builder)
        let blocks = people.indices.map { model.add($0, people[$0], to: &builder, groups: groups) }
        let trades = BilateralTrades(graph: setup.graph, blocks: blocks, periods: periods, to: &builder)
        var networks: [BranchFlowModel?] = []
        for t in 0..<periods {
            guard let feeder = setup.feeder(slot: t) else { networks.append(nil); continue }
            var active = [LinearExpression](repeating: .zero, count: feeder.busCount)
            var reactive = [LinearExpression](repeating: .zero, count: feeder.busCount)
            for (j, who) in people.enumerated() {
                guard let bus = who.bus, bus >= 0, bus < feeder.busCount else { continue }
                active[bus].add(blocks[j].withdrawalKW(who, period: t, units: units), times: -1)
                reactive[bus].constant -= who.qLoadKVAr[t]
            }
            networks.append(feeder.addModel(.lindistflow, to: &builder,
                                            injections: BusInjections(activeKW: active, reactiveKVAr: reactive),
                                            options: BranchFlowOptions()))
        }
        let built = try builder.build()
        let solution = SocialOptimum.solve(built.problem, options: problem.options, control: control, mechanism: .p2pOnline)
        result.iterations = online.iterations + solution.iterations
        guard solution.status.hasSolution else {
            result.status = ResultStatus(solution.status).forMarket
            result.message = result.status == .infeasible
                ? "no schedule over the horizon meets every balance, battery, trade and network limit with the batteries ending where the online run left them"
                : "the offline solve ended with \(solution.status.rawValue): \(solution.message)"
            result.solveSeconds = monotonicSeconds() - started
            return result
        }
        if solution.status != .solved { result.status = ResultStatus(solution.status) }

        // Each period read through the online result's code: the blocks' period-t variables, the
        // prosumers as that period's slot sees them (its measurements, the battery where the
        // schedule left it).
        let x = solution.x
        let prices = trades.prices(y: solution.y, model: built, units: units)
        var outcomes: [SlotOutcome] = []
        var soc = people.map { $0.storage?.socKWh ?? 0 }
        for t in 0..<periods {
            let input = SlotInput(slot: t, pvKW: people.map { $0.pvKW[t] }, loadKW: people.map { $0.loadKW[t] },
                                  buyPrice: grid.buyPrice[t], sellPrice: grid.sellPrice[t], socKWh: soc)
            let slotPeople = OnlineSlot.prosumers(setup, input)
            let sliced = blocks.map { $0.period(t) }
            var edgePrices: [Double] = []
            for k in setup.graph.edges.indices { edgePrices.append(k * periods + t < prices.count ? prices[k * periods + t] : 0) }
            var out = SlotOutcome()
            out.status = solution.status
            OnlineSlot.fill(&out, setup: setup, input: input, people: slotPeople, blocks: sliced, values: { _ in x },
                            prices: edgePrices)
            out.driftPlusPenalty = out.totalCost   // no queues offline
            if let network = networks[t] {
                let state = network.solution(x: x)
                out.vPu = state.vPu
                out.linePKW = state.pKW
                out.networkAdder = network.activePrices(y: solution.y, model: built).map { -units.pricePerKWh($0 * units.baseKVA) }
            }
            soc = out.socKWh
            outcomes.append(out)
        }
        OnlineResult.fill(&result, setup: setup, outcomes: outcomes)
        let onlineCost = online.outcomes.reduce(0) { $0 + $1.totalCost }
        let offlineCost = outcomes.reduce(0) { $0 + $1.totalCost }
        result.objective += [("onlineCost", .number(onlineCost)), ("offlineCost", .number(offlineCost))]
        result.quality += [("onlineGap", onlineCost - offlineCost),
                           ("onlineGapPerSlot", (onlineCost - offlineCost) / Double(max(1, periods)))]
        if !setup.notes.isEmpty { result.message = setup.notes.joined(separator: "; ") }
        result.solveSeconds = monotonicSeconds() - started
        return result
    }
}

extension P2PProsumerBlock {
    /// The block's variables of period t alone, as a one-period block (to read one period of a
    /// multi-period schedule with the one-slot code).
    func period(_ t: Int) -> P2PProsumerBlock {
        func at(_ list: [Int]) -> [Int] { t >= 0 && t < list.count ? [list[t]] : [-1] }
        var one = self
        one.flex = at(flex)
        one.fixedFlexKW = t >= 0 && t < fixedFlexKW.count ? [fixedFlexKW[t]] : [0]
        one.storage = storage.map { StorageDynamics.Variables(charge: at($0.charge), discharge: at($0.discharge), soc: at($0.soc)) }
        one.gridImport = at(gridImport)
        one.gridExport = at(gridExport)
        one.curtailment = curtailment.isEmpty ? [] : at(curtailment)
        one.trade = trade.map { at($0) }
        one.tradeAbs = tradeAbs.map { at($0) }
        return one
    }
}
