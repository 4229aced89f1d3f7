import CJSONC
import ESMGrid
import ESMSolver

/// Decodes `conic` (api.md §2.7): CSC matrices, vectors and cones, with dimension, index-range
/// and cone-size checks that name the offending entry.
enum ConicDecoder {
    static func decode(_ node: JSONNode) throws -> ConicProblem {
        let object = try node.object(allowing: ["P", "q", "A", "b", "cones", "integers"])
        let qNode = try object.require("q")
        let q = try numbers(qNode)
        let n = q.count
        let aNode = try object.require("A")
        let A = try matrix(aNode)
        guard A.n == n else { throw InputError.invalid(aNode.child("n"), "A has \(A.n) columns but q has \(n) entries") }
        let bNode = try object.require("b")
        let b = try numbers(bNode)
        guard b.count == A.m else { throw bNode.fail("b has \(b.count) entries but A has \(A.m) rows") }
        var P: SparseMatrixCSC?
        if let pNode = object["P"] {
            let matrix = try matrix(pNode)
            guard matrix.m == n, matrix.n == n else {
                throw pNode.fail("P must be \(n)×\(n) (the length of q), got \(matrix.m)×\(matrix.n)")
            }
            for column in 0..<n {
                for k in matrix.colptr[column]..<matrix.colptr[column + 1] where matrix.rowval[k] > column {
                    throw InputError.invalid("\(pNode.child("rowval"))[\(k)]", "P must be upper triangular: entry (\(matrix.rowval[k]), \(column)) is below the diagonal")
                }
            }
            P = matrix
        }
        let conesNode = try object.require("cones")
        var cones: [Cone] = []
        var rows = 0
        for item in try conesNode.array() {
            let cone = try item.object(allowing: ["type", "dim"])
            let type = try cone.require("type").oneOf(["zero", "nonneg", "soc"])
            let dimNode = try cone.require("dim")
            let dim = try dimNode.integer(min: type == "soc" ? 1 : 0, max: 100_000_000)
            switch type {
            case "zero": cones.append(.zero(dim))
            case "nonneg": cones.append(.nonnegative(dim))
            default: cones.append(.secondOrder(dim))
            }
            rows += dim
        }
        guard rows == A.m else { throw conesNode.fail("cone dimensions add up to \(rows) but A has \(A.m) rows") }
        var integers: [Int] = []
        if let intNode = object["integers"] {
            var seen = Set<Int>()
            for item in try intNode.array() {
                let k = try item.integer(min: 0, max: max(n - 1, 0))
                guard n > 0 else { throw item.fail("there are no variables") }
                guard seen.insert(k).inserted else { throw item.fail("variable \(k) listed twice") }
                integers.append(k)
            }
        }
        return ConicProblem(P: P, q: q, A: A, b: b, cones: cones, integers: integers)
    }

    static func numbers(_ node: JSONNode) throws -> [Double] { try node.numbers() }

    static func matrix(_ node: JSONNode) throws -> SparseMatrixCSC {
        let object = try node.object(allowing: ["m", "n", "colptr", "rowval", "nzval"])
        let m = try object.require("m").integer(min: 0, max: 100_000_000)
        let n = try object.require("n").integer(min: 0, max: 100_000_000)
        let colptrNode = try object.require("colptr")
        let colptrCount = try colptrNode.arrayCount()
        guard colptrCount == n + 1 else { throw colptrNode.fail("colptr must have n + 1 = \(n + 1) entries, got \(colptrCount)") }
        let rowNode = try object.require("rowval")
        let nnz = try rowNode.arrayCount()
        let nzNode = try object.require("nzval")
        let nzval = try numbers(nzNode)
        guard nzval.count == nnz else { throw nzNode.fail("nzval has \(nzval.count) entries but rowval has \(nnz)") }
        // Element by element the same checks and messages as reading each node, without a node each.
        func failAt(_ node: JSONNode, _ k: Int, _ message: String) -> Error {
            node.element(k).map { $0.fail(message) } ?? node.fail(message)
        }
        let colptr = try colptrNode.integers(min: 0, max: nnz)
        if colptr[0] != 0 { throw failAt(colptrNode, 0, "colptr[0] must be 0") }
        for k in 1..<colptr.count where colptr[k] < colptr[k - 1] { throw failAt(colptrNode, k, "colptr must be nondecreasing") }
        if colptr[n] != nnz {
            throw InputError.invalid("\(colptrNode.path)[\(n)]", "colptr[n] must equal the number of entries (\(nnz)), got \(colptr[n])")
        }
        let rowval = try rowNode.integers(min: 0, max: max(m - 1, 0))
        if m == 0 && nnz > 0 { throw rowNode.fail("a matrix with 0 rows has no entries") }
        for column in 0..<n where colptr[column] < colptr[column + 1] {
            for k in (colptr[column] + 1)..<colptr[column + 1] where rowval[k] <= rowval[k - 1] {
                throw failAt(rowNode, k, "row indices must be strictly increasing within a column (column \(column))")
            }
        }
        return SparseMatrixCSC(m: m, n: n, colptr: colptr, rowval: rowval, nzval: nzval)
    }
}
