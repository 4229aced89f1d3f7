/// The closed lines of a radial feeder as a tree rooted at the substation: parent links, a
/// parents-before-children order and O(n) subtree sums. Built once per solve.
public struct RadialTree: Sendable {
    public let root: Int
    /// Parent bus of each bus; -1 at the root.
    public let parent: [Int]
    /// Index of the line joining a bus to its parent; -1 at the root.
    public let parentLine: [Int]
    /// True when that line is listed `from` parent `to` child (so its `pKW` is the downstream flow).
    public let parentLineForward: [Bool]
    /// Buses in breadth-first order from the root: every parent precedes its children.
    public let order: [Int]

    /// Why the closed lines do not form a spanning tree of the buses.
    public enum Problem: Error, Sendable, Equatable {
        /// The first line (in list order) that closes a loop among closed lines.
        case loop(line: Int)
        /// The first bus (in list order) that no closed line path reaches from the root.
        case unreachable(bus: Int)
    }

    /// Builds the tree of the closed lines, or says which line or bus breaks radiality.
    public static func build(busCount: Int, lines: [Line], root: Int,
                             include: (Line) -> Bool = { $0.closed }) -> Result<RadialTree, Problem> {
        var sets = DisjointSets(count: busCount)
        var adjacency = [[(line: Int, other: Int)]](repeating: [], count: busCount)
        for (k, line) in lines.enumerated() where include(line) {
            guard line.from != line.to, sets.union(line.from, line.to) else { return .failure(.loop(line: k)) }
            adjacency[line.from].append((k, line.to))
            adjacency[line.to].append((k, line.from))
        }
        var parent = [Int](repeating: -1, count: busCount)
        var parentLine = [Int](repeating: -1, count: busCount)
        var forward = [Bool](repeating: true, count: busCount)
        var seen = [Bool](repeating: false, count: busCount)
        var order: [Int] = []
        order.reserveCapacity(busCount)
        seen[root] = true
        order.append(root)
        var head = 0
        while head < order.count {
            let bus = order[head]
            head += 1
            for (k, other) in adjacency[bus] where !seen[other] {
                seen[other] = true
                parent[other] = bus
                parentLine[other] = k
                forward[other] = lines[k].from == bus
                order.append(other)
            }
        }
        if let lost = seen.firstIndex(of: false) { return .failure(.unreachable(bus: lost)) }
        return .success(RadialTree(root: root, parent: parent, parentLine: parentLine,
                                   parentLineForward: forward, order: order))
    }

    /// Sum of `values` over each bus's subtree (the bus itself included), in O(n).
    public func subtreeSums(_ values: [Double]) -> [Double] {
        var sums = values
        for bus in order.reversed() where parent[bus] >= 0 {
            sums[parent[bus]] += sums[bus]
        }
        return sums
    }

    /// Lines on the path from the substation down to `bus`, nearest the substation first.
    public func pathFromRoot(to bus: Int) -> [Int] {
        var path: [Int] = []
        var b = bus
        while parent[b] >= 0 {
            path.append(parentLine[b])
            b = parent[b]
        }
        return path.reversed()
    }
}

/// Union–find with path halving and union by size.
struct DisjointSets {
    private var parent: [Int]
    private var size: [Int]

    init(count: Int) {
        parent = Array(0..<count)
        size = Array(repeating: 1, count: count)
    }

    mutating func find(_ a: Int) -> Int {
        var x = a
        while parent[x] != x {
            parent[x] = parent[parent[x]]
            x = parent[x]
        }
        return x
    }

    /// Joins the sets of `a` and `b`; false when they were already one set.
    mutating func union(_ a: Int, _ b: Int) -> Bool {
        var ra = find(a), rb = find(b)
        if ra == rb { return false }
        if size[ra] < size[rb] { swap(&ra, &rb) }
        parent[rb] = ra
        size[ra] += size[rb]
        return true
    }
}
