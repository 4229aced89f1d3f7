import ESMGrid
import ESMSolver

/// One slot's measurements (spec §4.2 step 1): every prosumer's PV and load, the grid prices, and
/// the batteries' state of charge at the start of the slot (the session's state).
public struct SlotInput: Sendable {
    public var slot: Int
    public var pvKW: [Double]
    public var loadKW: [Double]
    public var buyPrice: Double
    public var sellPrice: Double
    /// Per prosumer; ignored for prosumers without storage.
    public var socKWh: [Double]

    public init(slot: Int, pvKW: [Double], loadKW: [Double], buyPrice: Double, sellPrice: Double, socKWh: [Double]) {
        self.slot = slot
        self.pvKW = pvKW
        self.loadKW = loadKW
        self.buyPrice = buyPrice
        self.sellPrice = sellPrice
        self.socKWh = socKWh
    }
}

/// The decision of one slot, in kW / kWh / currency.
public struct SlotOutcome: Sendable {
    public var pvUsedKW: [Double] = []
    public var curtailedKW: [Double] = []
    public var flexKW: [Double] = []
    public var chargeKW: [Double] = []
    public var dischargeKW: [Double] = []
    /// E_i(t+1) = E_i(t) + a_i(t) (0 without storage).
    public var socKWh: [Double] = []
    /// Q_i(t+1) = E_i(t+1) − Γ_i (0 without storage).
    public var queueKWh: [Double] = []
    public var importKW: [Double] = []
    public var exportKW: [Double] = []
    /// C_i(t): grid money, trading cost, wear, flex (currency).
    public var cost: [Double] = []
    /// Σ_j μ_ij p_ij Δt: what settling the trades at the bilateral prices adds to C_i.
    public var tradePayment: [Double] = []
    /// Per edge: kW delivered from edge.a to edge.b, and the bilateral price μ.
    public var tradeKW: [Double] = []
    public var tradePrice: [Double] = []
    /// Per bus (empty without a network): voltage and the network adder (marginal cost of one
    /// more kW injected at the bus, currency/kWh).
    public var vPu: [Double] = []
    public var networkAdder: [Double] = []
    public var linePKW: [Double] = []
    /// Σ_i C_i + w_i Q_i a_i.
    public var driftPlusPenalty = 0.0
    public var totalCost = 0.0
    public var reciprocityResidualKW = 0.0
    public var balanceResidualKW = 0.0
    /// Prosumers that charge and discharge at once (both above 1 W) with a lossy battery (never
    /// optimal; flagged), and the largest min(charge, discharge) of a lossy battery, kW.
    public var simultaneousChargeDischarge = 0
    public var simultaneousChargeKW = 0.0
    public var iterations = 0
    /// ADMM route: the final primal and dual residuals (pu; 0 for the centralized route).
    public var admmPrimalResidual = 0.0
    public var admmDualResidual = 0.0
    public var status: ConicStatus = .solved
    public var message = ""
}

/// The drift-plus-penalty problem P2(t) of one slot (spec §3.4) on the interior-point solver:
///
///     min Σ_i [ C_i(t) + w_i Q_i(t) a_i(t) ]
///
/// over every prosumer's P2P block for one period (`P2PProsumerModel`: PV curtailment, flex,
/// battery from its current SoC with the one-slot bounds, grid buy/sell, trades with their
/// quadratic cost), the reciprocity of trades (`BilateralTrades`, whose multipliers are the
/// bilateral prices) and the feeder's LinDistFlow limits. a_i = E_i(t+1) − E_i(t), so the queue
/// term is a linear cost on the battery's end-of-slot SoC variable.
struct OnlineSlot {
    let setup: OnlineSetup
    let input: SlotInput
    var builder = ConicBuilder()
    var people: [Prosumer] = []
    var blocks: [P2PProsumerBlock] = []
    var trades: BilateralTrades?
    var network: BranchFlowModel?

    /// The slot's prosumers: one period of measurements, the battery at its current SoC.
    static func prosumers(_ setup: OnlineSetup, _ input: SlotInput) -> [Prosumer] {
        let problem = setup.problem
        let t = min(max(input.slot, 0), problem.periods - 1)
        return problem.prosumers.enumerated().map { j, who in
            var one = who
            let load = j < input.loadKW.count ? input.loadKW[j] : 0
            one.loadKW = Series(load)
            one.pvKW = Series(j < input.pvKW.count ? input.pvKW[j] : 0)
            // Reactive load keeps the configured ratio to the active load (the document's own value
            // when the slot's load is the document's).
            let configured = who.loadKW[t]
            one.qLoadKVAr = Series(configured > 0 ? load * (who.qLoadKVAr[t] / configured) : who.qLoadKVAr[t])
            if let f = who.flex { one.flex = Flex(minKW: Series(f.minKW[t]), maxKW: Series(f.maxKW[t]), costA: Series(f.costA[t]), costB: Series(f.costB[t])) }
            if one.storage != nil, j < input.socKWh.count { one.storage?.socKWh = input.socKWh[j] }
            return one
        }
    }

    /// The prosumer blocks' model for the slot (shared by the centralized and ADMM routes, so
    /// that both solve the same problem).
    static func model(_ setup: OnlineSetup, _ input: SlotInput, people: [Prosumer]) -> P2PProsumerModel {
        let grid = GridTariff(buyPrice: [input.buyPrice], sellPrice: [input.sellPrice])
        var model = P2PProsumerModel(periods: 1, units: setup.units, grid: grid, graph: setup.graph, prosumers: people)
        model.curtailablePV = true
        model.socBounds = setup.problem.options.online.hardSocBounds
        return model
    }

    /// Adds prosumer j's block with its queue term w Q a (a = E(t+1) − E(t): the constant
    /// −w Q E(t) does not change the decision, so it is a linear cost on the end-of-slot SoC).
    static func addBlock(_ j: Int, setup: OnlineSetup, people: [Prosumer], model: P2PProsumerModel,
                         groups: P2PProsumerModel.Groups, to builder: inout ConicBuilder) -> P2PProsumerBlock {
        let block = model.add(j, people[j], to: &builder, groups: groups)
        if let s = block.storage, j < setup.lyapunov.count, let lyapunov = setup.lyapunov[j], let battery = people[j].storage {
            let c = setup.units.linear(lyapunov.weight * (battery.socKWh - lyapunov.shiftKWh))
            if c != 0 { builder.addLinearCost(s.soc[0], c) }
        }
        return block
    }

    init(_ setup: OnlineSetup, _ input: SlotInput) {
        self.setup = setup
        self.input = input
        let units = setup.units
        people = Self.prosumers(setup, input)
        let model = Self.model(setup, input, people: people)
        let groups = P2PProsumerModel.Groups(in: &builder)
        blocks = people.indices.map { Self.addBlock($0, setup: setup, people: people, model: model, groups: groups, to: &builder) }
        trades = BilateralTrades(graph: setup.graph, blocks: blocks, periods: 1, to: &builder)
        if let feeder = setup.feeder(slot: input.slot) {
            var active = [LinearExpression](repeating: .zero, count: feeder.busCount)
            var reactive = [LinearExpression](repeating: .zero, count: feeder.busCount)
            for (j, who) in people.enumerated() {
                guard let bus = who.bus, bus >= 0, bus < feeder.busCount else { continue }
                active[bus].add(blocks[j].withdrawalKW(who, period: 0, units: units), times: -1)
                reactive[bus].constant -= who.qLoadKVAr[0]
            }
            network = feeder.addModel(.lindistflow, to: &builder,
                                      injections: BusInjections(activeKW: active, reactiveKVAr: reactive),
                                      options: BranchFlowOptions())
        }
    }

    func solve(control: SolveControl) throws -> SlotOutcome {
        let built = try builder.build()
        let solution = SocialOptimum.solve(built.problem, options: setup.problem.options, control: control)
        var out = SlotOutcome()
        out.status = solution.status
        out.message = solution.message
        out.iterations = solution.iterations
        guard solution.status.hasSolution else { return out }
        let x = solution.x
        let prices = trades?.prices(y: solution.y, model: built, units: setup.units) ?? []
        Self.fill(&out, setup: setup, input: input, people: people, blocks: blocks, values: { _ in x }, prices: prices)
        if let network {
            let state = network.solution(x: x)
            out.vPu = state.vPu
            out.linePKW = state.pKW
            // activePrices: marginal cost of one more kW withdrawn; an injection costs the opposite.
            out.networkAdder = network.activePrices(y: solution.y, model: built).map { -setup.units.pricePerKWh($0 * setup.units.baseKVA) }
        }
        return out
    }

    /// The prosumers' and trades' part of the outcome from each block's solution (`values(j)`:
    /// the solution vector block j's indices refer to) and the bilateral prices per edge.
    static func fill(_ out: inout SlotOutcome, setup: OnlineSetup, input: SlotInput, people: [Prosumer],
                     blocks: [P2PProsumerBlock], values: (Int) -> [Double], prices given: [Double]) {
        let units = setup.units
        let h = units.periodHours
        let hard = setup.problem.options.online.hardSocBounds
        let prices = given.count == setup.graph.edges.count ? given : [Double](repeating: 0, count: setup.graph.edges.count)
        for (j, who) in people.enumerated() {
            let block = blocks[j]
            let x = values(j)
            func kW(_ v: Int) -> Double { v >= 0 && v < x.count ? units.kW(x[v]) : 0 }
            func nonnegativeKW(_ v: Int) -> Double { max(kW(v), 0) }
            let curtailed = min(nonnegativeKW(block.curtailment.first ?? -1), who.pvKW[0])
            let flex = block.flex[0] >= 0 ? kW(block.flex[0]) : block.fixedFlexKW[0]
            let charge = block.storage.map { nonnegativeKW($0.charge[0]) } ?? 0
            let discharge = block.storage.map { nonnegativeKW($0.discharge[0]) } ?? 0
            let imported = nonnegativeKW(block.gridImport[0]), exported = nonnegativeKW(block.gridExport[0])
            var tradeKW: [Double] = []
            for p in block.trade { tradeKW.append(kW(p[0])) }
            var soc = 0.0, queue = 0.0
            if let s = who.storage {
                soc = s.socKWh + h * (s.etaCharge * charge - discharge / s.etaDischarge)
                // The solver meets the one-slot bounds to its tolerance; the state never leaves them.
                if hard { soc = min(max(soc, s.socMinKWh), s.socMaxKWh) }
                if s.etaCharge * s.etaDischarge < 1 {
                    out.simultaneousChargeKW = max(out.simultaneousChargeKW, min(charge, discharge))
                    if min(charge, discharge) > 1e-3 { out.simultaneousChargeDischarge += 1 }
                }
                if j < setup.lyapunov.count, let l = setup.lyapunov[j] {
                    queue = soc - l.shiftKWh
                    out.driftPlusPenalty += l.weight * (s.socKWh - l.shiftKWh) * (soc - s.socKWh)
                }
            }
            let cost = P2PProsumerModel(periods: 1, units: units,
                                        grid: GridTariff(buyPrice: [input.buyPrice], sellPrice: [input.sellPrice]),
                                        graph: setup.graph, prosumers: [])
                .ownCost(who, flexKW: flex, chargeKW: charge, dischargeKW: discharge, tradeKW: tradeKW,
                         ends: setup.graph.ends[j], importKW: imported, exportKW: exported,
                         importPrice: input.buyPrice, period: 0)
            let balance = flex + discharge - charge + imported - exported + tradeKW.reduce(0, +)
                - (who.loadKW[0] - who.pvKW[0] + curtailed)
            out.balanceResidualKW = max(out.balanceResidualKW, abs(balance))
            out.pvUsedKW.append(who.pvKW[0] - curtailed)
            out.curtailedKW.append(curtailed)
            out.flexKW.append(flex)
            out.chargeKW.append(charge)
            out.dischargeKW.append(discharge)
            out.socKWh.append(soc)
            out.queueKWh.append(queue)
            out.importKW.append(imported)
            out.exportKW.append(exported)
            out.cost.append(cost)
            var payment = 0.0
            for (k, end) in setup.graph.ends[j].enumerated() where k < tradeKW.count { payment += prices[end.edge] * tradeKW[k] * h }
            out.tradePayment.append(payment)
            out.totalCost += cost
        }
        out.driftPlusPenalty += out.totalCost
        for (k, edge) in setup.graph.edges.enumerated() {
            let slot = setup.graph.slots[k]
            let xa = values(edge.a), xb = values(edge.b)
            let va = blocks[edge.a].trade[slot.a][0], vb = blocks[edge.b].trade[slot.b][0]
            let pa = va < xa.count ? units.kW(xa[va]) : 0, pb = vb < xb.count ? units.kW(xb[vb]) : 0
            out.tradeKW.append(0.5 * (pb - pa))
            out.reciprocityResidualKW = max(out.reciprocityResidualKW, abs(pa + pb))
        }
        out.tradePrice = prices
    }
}
