/// The meshed graph of a network's candidate lines and the switching rules it implies
/// (p2p_reconfiguration spec §3.3): which lines may change status, which must stay closed
/// (bridges), the fundamental loops and the segments. Every rule is necessary for radiality, so
/// the rules are valid cuts for the branch-and-bound, never a substitute for the spanning-tree
/// constraints.
///
/// A line is a *candidate* when it is closed or switchable (a line that is open and has no
/// switch can never carry power). A candidate is *switchable* when it has a switch (or every line
/// does, `allLinesSwitchable`) and is not a bridge; the other candidates are fixed closed.
public struct SwitchingGraph: Sendable {
    public let busCount: Int
    public let root: Int
    /// Line ends (bus indices), as in `Network.lines`.
    public let from: [Int]
    public let to: [Int]
    /// Per line: it can be in service.
    public let candidate: [Bool]
    /// Per line: its status is a decision (a candidate with a switch that is not a bridge).
    public let switchable: [Bool]
    /// Candidate lines whose removal disconnects the candidate graph: closed in every radial
    /// configuration (rule 1), in line order.
    public let bridges: [Int]
    /// One fundamental loop per candidate line outside the reference tree (the network's closed
    /// lines where they form a tree, else a spanning tree preferring them): that line first, then
    /// the tree path between its ends (rule 2).
    public let loops: [[Int]]
    /// Maximal chains of candidate lines whose interior buses have degree two (rule 3), each in
    /// chain order, listed by their smallest line.
    public let segments: [[Int]]

    /// Why a network admits no radial configuration.
    public enum Problem: Error, Sendable, Equatable {
        /// The candidate lines do not reach this bus (first in bus order).
        case unreachable(bus: Int)
        /// These fixed-closed lines (no switch) close a loop among themselves.
        case fixedLoop(line: Int)
        /// The substation or a line end is not a bus index, or a graph is used with another
        /// network than its own.
        case doesNotMatch
    }

    public init(network: Network, allLinesSwitchable: Bool = false) throws {
        let n = network.buses.count
        let lines = network.lines
        guard network.substation >= 0, network.substation < n,
              !lines.contains(where: { $0.from < 0 || $0.from >= n || $0.to < 0 || $0.to >= n }) else {
            throw Problem.doesNotMatch
        }
        busCount = n
        root = network.substation
        from = lines.map(\.from)
        to = lines.map(\.to)
        let isCandidate = lines.map { ($0.closed || $0.switchable || allLinesSwitchable) && $0.from != $0.to }
        candidate = isCandidate

        var adjacency = [[(line: Int, other: Int)]](repeating: [], count: n)
        for (k, line) in lines.enumerated() where isCandidate[k] {
            adjacency[line.from].append((k, line.to))
            adjacency[line.to].append((k, line.from))
        }
        let bridgeSet = SwitchingGraph.findBridges(adjacency: adjacency, root: network.substation)
        bridges = bridgeSet.sorted()
        var isSwitchable = [Bool](repeating: false, count: lines.count)
        for (k, line) in lines.enumerated() where isCandidate[k] && !bridgeSet.contains(k) {
            isSwitchable[k] = line.switchable || allLinesSwitchable
        }
        switchable = isSwitchable

        // Fixed lines must be a forest, and the candidates must reach every bus.
        var fixedSets = DisjointSets(count: n)
        for k in lines.indices where isCandidate[k] && !isSwitchable[k] {
            guard fixedSets.union(lines[k].from, lines[k].to) else { throw Problem.fixedLoop(line: k) }
        }
        let weights = lines.indices.map { lines[$0].closed ? 1.0 : 0.0 }
        guard let tree = SwitchingGraph.maximumSpanningTree(busCount: n, from: from, to: to, usable: isCandidate,
                                                            forced: isCandidate.indices.map { isCandidate[$0] && !isSwitchable[$0] },
                                                            weights: weights) else {
            var reach = DisjointSets(count: n)
            for k in lines.indices where isCandidate[k] { _ = reach.union(lines[k].from, lines[k].to) }
            let lost = (0..<n).first { reach.find($0) != reach.find(network.substation) } ?? 0
            throw Problem.unreachable(bus: lost)
        }
        let reference = tree

        // Fundamental loops of the reference tree.
        var treeAdjacency = [[(line: Int, other: Int)]](repeating: [], count: n)
        for k in lines.indices where reference[k] {
            treeAdjacency[lines[k].from].append((k, lines[k].to))
            treeAdjacency[lines[k].to].append((k, lines[k].from))
        }
        var parent = [Int](repeating: -1, count: n), parentLine = [Int](repeating: -1, count: n)
        var depth = [Int](repeating: 0, count: n)
        var seen = [Bool](repeating: false, count: n)
        var queue = [network.substation]
        seen[network.substation] = true
        var head = 0
        while head < queue.count {
            let b = queue[head]
            head += 1
            for (k, o) in treeAdjacency[b] where !seen[o] {
                seen[o] = true
                parent[o] = b
                parentLine[o] = k
                depth[o] = depth[b] + 1
                queue.append(o)
            }
        }
        var loops: [[Int]] = []
        for k in lines.indices where isCandidate[k] && !reference[k] {
            var a = lines[k].from, b = lines[k].to
            var up: [Int] = [], down: [Int] = []
            while a != b {
                if depth[a] >= depth[b] { up.append(parentLine[a]); a = parent[a] } else { down.append(parentLine[b]); b = parent[b] }
            }
            loops.append([k] + up + down.reversed())
        }
        self.loops = loops

        // Segments: walk from each unvisited line through buses of degree two.
        let degree = adjacency.map(\.count)
        var inSegment = [Bool](repeating: false, count: lines.count)
        var segments: [[Int]] = []
        for k in lines.indices where isCandidate[k] && !inSegment[k] {
            inSegment[k] = true
            var chain = [k]
            // extend towards `to`, then towards `from`
            for (start, forward) in [(lines[k].to, true), (lines[k].from, false)] {
                var bus = start, via = k
                while degree[bus] == 2 {
                    guard let next = adjacency[bus].first(where: { $0.line != via }), !inSegment[next.line] else { break }
                    inSegment[next.line] = true
                    if forward { chain.append(next.line) } else { chain.insert(next.line, at: 0) }
                    via = next.line
                    bus = next.other
                }
            }
            segments.append(chain)
        }
        self.segments = segments.sorted { ($0.min() ?? 0) < ($1.min() ?? 0) }
    }

    /// Lines incident to each bus among the candidates.
    public func incidentLines() -> [[Int]] {
        var out = [[Int]](repeating: [], count: busCount)
        for k in from.indices where candidate[k] {
            out[from[k]].append(k)
            out[to[k]].append(k)
        }
        return out
    }

    /// A spanning tree of the candidate lines that contains every non-switchable candidate and,
    /// among those, has the largest total weight of switchable lines (Kruskal): the radial
    /// configuration "nearest" to a relaxation's fractional statuses. Per line: closed or not;
    /// nil when the candidates do not connect the buses.
    public func spanningTree(weights: [Double]) -> [Bool]? {
        SwitchingGraph.maximumSpanningTree(busCount: busCount, from: from, to: to, usable: candidate,
                                           forced: candidate.indices.map { candidate[$0] && !switchable[$0] },
                                           weights: weights)
    }

    /// Checks a configuration (closed flag per line): every closed line is a candidate, the
    /// non-switchable candidates are closed and the closed lines form a spanning tree.
    public func isRadial(closed: [Bool]) -> Bool {
        guard closed.count == from.count else { return false }
        var sets = DisjointSets(count: busCount)
        var count = 0
        for k in closed.indices {
            if candidate[k] && !switchable[k] && !closed[k] { return false }
            guard closed[k] else { continue }
            guard candidate[k], sets.union(from[k], to[k]) else { return false }
            count += 1
        }
        return count == busCount - 1
    }

    static func maximumSpanningTree(busCount n: Int, from: [Int], to: [Int], usable: [Bool], forced: [Bool],
                                    weights: [Double]) -> [Bool]? {
        var sets = DisjointSets(count: n)
        var closed = [Bool](repeating: false, count: from.count)
        var count = 0
        for k in from.indices where usable[k] && forced[k] {
            guard sets.union(from[k], to[k]) else { return nil }
            closed[k] = true
            count += 1
        }
        let order = from.indices.filter { usable[$0] && !forced[$0] }.sorted {
            let a = $0 < weights.count && weights[$0].isFinite ? weights[$0] : 0
            let b = $1 < weights.count && weights[$1].isFinite ? weights[$1] : 0
            return a != b ? a > b : $0 < $1
        }
        for k in order where sets.union(from[k], to[k]) {
            closed[k] = true
            count += 1
        }
        return count == n - 1 ? closed : nil
    }

    /// Bridges of a multigraph (parallel lines are distinct edges), iterative Tarjan low-link.
    static func findBridges(adjacency: [[(line: Int, other: Int)]], root: Int) -> Set<Int> {
        let n = adjacency.count
        var index = [Int](repeating: -1, count: n), low = [Int](repeating: 0, count: n)
        var bridges = Set<Int>()
        var counter = 0
        for start in [root] + Array(0..<n) where start < n && index[start] < 0 {
            // stack of (bus, line used to enter it, next adjacency position)
            var stack: [(bus: Int, via: Int, next: Int)] = [(start, -1, 0)]
            index[start] = counter; low[start] = counter; counter += 1
            while !stack.isEmpty {
                let top = stack.count - 1
                let (bus, via, next) = stack[top]
                if next < adjacency[bus].count {
                    stack[top].next += 1
                    let (k, o) = adjacency[bus][next]
                    if k == via { continue }
                    if index[o] < 0 {
                        index[o] = counter; low[o] = counter; counter += 1
                        stack.append((o, k, 0))
                    } else {
                        low[bus] = min(low[bus], index[o])
                    }
                } else {
                    stack.removeLast()
                    if let p = stack.last {
                        low[p.bus] = min(low[p.bus], low[bus])
                        if low[bus] > index[p.bus] { bridges.insert(via) }
                    }
                }
            }
        }
        return bridges
    }
}
