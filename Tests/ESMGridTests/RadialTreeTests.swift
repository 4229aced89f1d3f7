import Testing
@testable import ESMGrid

/// 0 → 1 → 2, 1 → 3 (line 2 listed backwards), plus an open tie 3 – 2.
func smallLines() -> [Line] {
    [Line(id: "a", from: 0, to: 1, rOhm: 1, xOhm: 1, rateKVA: nil, closed: true, switchable: false),
     Line(id: "b", from: 1, to: 2, rOhm: 1, xOhm: 1, rateKVA: nil, closed: true, switchable: false),
     Line(id: "c", from: 3, to: 1, rOhm: 1, xOhm: 1, rateKVA: nil, closed: true, switchable: false),
     Line(id: "tie", from: 3, to: 2, rOhm: 1, xOhm: 1, rateKVA: nil, closed: false, switchable: true)]
}

@Test func treeOfClosedLines() throws {
    let tree = try RadialTree.build(busCount: 4, lines: smallLines(), root: 0).get()
    #expect(tree.parent == [-1, 0, 1, 1])
    #expect(tree.parentLine == [-1, 0, 1, 2])
    #expect(tree.parentLineForward == [true, true, true, false])
    #expect(tree.subtreeSums([1, 2, 3, 4]) == [10, 9, 3, 4])
    #expect(tree.pathFromRoot(to: 3) == [0, 2])
    #expect(tree.order.first == 0 && tree.order.count == 4)
}

@Test func loopAndIslandAreNamed() {
    var lines = smallLines()
    lines[3].closed = true
    #expect(RadialTree.build(busCount: 4, lines: lines, root: 0).failure == .loop(line: 3))
    #expect(RadialTree.build(busCount: 5, lines: smallLines(), root: 0).failure == .unreachable(bus: 4))
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
