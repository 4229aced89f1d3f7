/// Who may trade with whom in a P2P market: an undirected graph over the prosumers, with each
/// edge's terms. Shared by every P2P mechanism.
///
/// An edge {a, b} exists when either prosumer lists the other in `peers` (a one-sided listing is
/// an invitation the other side accepts on its default terms: a trade needs both sides' balances,
/// so there is no "half" edge to represent). Each side keeps its own terms: a per-kWh fee on the
/// absolute volume (`tradeCost`, the paper's c^ta) and a contract price on what it buys
/// (`contractPrice`, c^tr); a `peers` entry object overrides the prosumer's defaults for that
/// partner. The edge's limit is the smaller of the two sides' limits (`maxKW` of the entry, else the
/// prosumer's `tradeMaxKW`); nil when neither side sets one.
public struct TradingGraph: Sendable {
    public struct Edge: Sendable, Equatable {
        /// Prosumer indices, a < b.
        public var a: Int
        public var b: Int
        /// Largest trade either way, kW; nil: no limit set.
        public var maxKW: Double?
        /// Fee per kWh of |trade| paid by side a / side b.
        public var feeA: Double
        public var feeB: Double
        /// Contract price per kWh on what side a / side b buys (a payment to the other side).
        public var contractA: Double
        public var contractB: Double
        /// Quadratic trading cost κ of side a / side b (κ/2 · trade² per hour).
        public var quadraticA: Double = 0
        public var quadraticB: Double = 0
    }

    /// One end of an edge, seen from a prosumer.
    public struct End: Sendable, Equatable {
        public var edge: Int
        public var partner: Int
        /// True when the prosumer is the edge's `a`.
        public var isA: Bool
    }

    public let edges: [Edge]
    /// Per prosumer, its edges in partner order.
    public let ends: [[End]]
    /// Per edge: its position in `ends[a]` and in `ends[b]`.
    public let slots: [(a: Int, b: Int)]

    public init(prosumers: [Prosumer]) {
        var index = [Int64: Int]()
        var edges: [Edge] = []
        func key(_ a: Int, _ b: Int) -> Int64 { Int64(a) << 32 | Int64(b) }
        for (i, who) in prosumers.enumerated() {
            for (position, j) in who.peers.enumerated() where j >= 0 && j < prosumers.count && j != i {
                let a = min(i, j), b = max(i, j)
                let terms = position < who.peerTerms.count ? who.peerTerms[position] : PeerTerms()
                let k: Int
                if let existing = index[key(a, b)] {
                    k = existing
                } else {
                    k = edges.count
                    index[key(a, b)] = k
                    let pa = prosumers[a], pb = prosumers[b]
                    edges.append(Edge(a: a, b: b, maxKW: Self.smaller(pa.tradeMaxKW, pb.tradeMaxKW),
                                      feeA: pa.tradeCost, feeB: pb.tradeCost,
                                      contractA: pa.contractPrice, contractB: pb.contractPrice,
                                      quadraticA: pa.tradeCostA, quadraticB: pb.tradeCostA))
                }
                // The listing side's own terms for this partner.
                edges[k].maxKW = Self.smaller(edges[k].maxKW, terms.maxKW)
                if i == a {
                    if let fee = terms.tradeCost { edges[k].feeA = fee }
                    if let price = terms.contractPrice { edges[k].contractA = price }
                    if let kappa = terms.tradeCostA { edges[k].quadraticA = kappa }
                } else {
                    if let fee = terms.tradeCost { edges[k].feeB = fee }
                    if let price = terms.contractPrice { edges[k].contractB = price }
                    if let kappa = terms.tradeCostA { edges[k].quadraticB = kappa }
                }
            }
        }
        var ends = [[End]](repeating: [], count: prosumers.count)
        for (k, edge) in edges.enumerated() {
            ends[edge.a].append(End(edge: k, partner: edge.b, isA: true))
            ends[edge.b].append(End(edge: k, partner: edge.a, isA: false))
        }
        var slots = [(a: Int, b: Int)](repeating: (0, 0), count: edges.count)
        for i in ends.indices {
            ends[i].sort { $0.partner < $1.partner }
            for (position, end) in ends[i].enumerated() {
                if end.isA { slots[end.edge].a = position } else { slots[end.edge].b = position }
            }
        }
        self.edges = edges
        self.ends = ends
        self.slots = slots
    }

    static func smaller(_ x: Double?, _ y: Double?) -> Double? {
        switch (x, y) {
        case let (x?, y?): return min(x, y)
        case let (x?, nil): return x
        case let (nil, y?): return y
        default: return nil
        }
    }

    /// Quadratic trading cost κ of prosumer side `end` on its edge.
    public func quadraticCost(of end: End) -> Double {
        let edge = edges[end.edge]
        return end.isA ? edge.quadraticA : edge.quadraticB
    }

    /// Fee and contract price that prosumer side `end` pays on its edge.
    public func terms(of end: End) -> (fee: Double, contract: Double) {
        let edge = edges[end.edge]
        return end.isA ? (edge.feeA, edge.contractA) : (edge.feeB, edge.contractB)
    }
}
