// The product cone K = K₁ × … × K_p over the rows of s, dispatching each operation to the file
// of its cone (NonnegativeCone, SecondOrderCone; the zero cone {0}, whose dual is the whole
// space, is handled inline: its slack is fixed at 0, it has no scaling and no step limit).

struct CompositeCone {
    enum Kind { case zero, nonnegative, secondOrder }
    struct Block {
        var kind: Kind
        var range: Range<Int>
    }

    let blocks: [Block]
    let m: Int
    /// Barrier degree ν: 1 per nonnegative row, 1 per second-order cone, 0 for zero cones.
    let degree: Int
    /// Per-row NT data: √(s/z) for nonnegative rows, w̄ for second-order rows, 0 for zero rows.
    var w: [Double]
    /// η per block (used by second-order cones only).
    var eta: [Double]
    /// λ = W z, per row.
    var lambda: [Double]

    init(cones: [Cone]) {
        var b = [Block]()
        var offset = 0
        var nu = 0
        for cone in cones {
            let d = cone.dimension
            if d == 0 { continue }
            switch cone {
            case .zero: b.append(Block(kind: .zero, range: offset..<offset + d))
            case .nonnegative: b.append(Block(kind: .nonnegative, range: offset..<offset + d)); nu += d
            case .secondOrder: b.append(Block(kind: .secondOrder, range: offset..<offset + d)); nu += 1
            }
            offset += d
        }
        blocks = b
        m = offset
        degree = nu
        w = [Double](repeating: 0, count: offset)
        eta = [Double](repeating: 1, count: b.count)
        lambda = [Double](repeating: 0, count: offset)
    }

    /// Recomputes the NT scaling and λ at (s, z); false if a point is not strictly interior.
    mutating func updateScaling(s: UnsafeBufferPointer<Double>, z: UnsafeBufferPointer<Double>) -> Bool {
        var ok = true
        let blocks = self.blocks
        w.withUnsafeMutableBufferPointer { w in
            lambda.withUnsafeMutableBufferPointer { l in
                eta.withUnsafeMutableBufferPointer { eta in
                    for (k, blk) in blocks.enumerated() {
                        switch blk.kind {
                        case .zero:
                            for i in blk.range { w[i] = 0; l[i] = 0 }
                        case .nonnegative:
                            if !NonnegativeCone.updateScaling(s: s, z: z, w: w, lambda: l, range: blk.range) { ok = false }
                        case .secondOrder:
                            if !SecondOrderCone.updateScaling(s: s, z: z, w: w, lambda: l, eta: &eta[k], range: blk.range) {
                                ok = false
                            }
                        }
                        if !ok { return }
                    }
                }
            }
        }
        return ok
    }

    /// Sets the identity scaling (W = I on non-zero cones), used by the initial point.
    mutating func setIdentityScaling() {
        for (k, blk) in blocks.enumerated() {
            eta[k] = 1
            for i in blk.range {
                switch blk.kind {
                case .zero: w[i] = 0
                case .nonnegative: w[i] = 1
                case .secondOrder: w[i] = (i == blk.range.lowerBound) ? 1 : 0
                }
            }
        }
    }

    /// out = W v (0 on zero cones).
    func mulW(_ v: UnsafeBufferPointer<Double>, _ out: UnsafeMutableBufferPointer<Double>) {
        w.withUnsafeBufferPointer { w in
            for (k, blk) in blocks.enumerated() {
                switch blk.kind {
                case .zero: for i in blk.range { out[i] = 0 }
                case .nonnegative: for i in blk.range { out[i] = w[i] * v[i] }
                case .secondOrder: SecondOrderCone.mulW(w: w, eta: eta[k], v: v, out: out, range: blk.range)
                }
            }
        }
    }

    /// out = W⁻¹ v (0 on zero cones).
    func mulWInverse(_ v: UnsafeBufferPointer<Double>, _ out: UnsafeMutableBufferPointer<Double>) {
        w.withUnsafeBufferPointer { w in
            for (k, blk) in blocks.enumerated() {
                switch blk.kind {
                case .zero: for i in blk.range { out[i] = 0 }
                case .nonnegative: for i in blk.range { out[i] = v[i] / w[i] }
                case .secondOrder: SecondOrderCone.mulWInverse(w: w, eta: eta[k], v: v, out: out, range: blk.range)
                }
            }
        }
    }

    /// out = u ∘ v (0 on zero cones).
    func jordanProduct(_ u: UnsafeBufferPointer<Double>, _ v: UnsafeBufferPointer<Double>,
                       _ out: UnsafeMutableBufferPointer<Double>) {
        for blk in blocks {
            switch blk.kind {
            case .zero: for i in blk.range { out[i] = 0 }
            case .nonnegative: for i in blk.range { out[i] = u[i] * v[i] }
            case .secondOrder: SecondOrderCone.jordanProduct(u, v, out: out, range: blk.range)
            }
        }
    }

    /// out = λ ⊘ v (0 on zero cones).
    func lambdaDivide(_ v: UnsafeBufferPointer<Double>, _ out: UnsafeMutableBufferPointer<Double>) {
        lambda.withUnsafeBufferPointer { l in
            for blk in blocks {
                switch blk.kind {
                case .zero: for i in blk.range { out[i] = 0 }
                case .nonnegative: for i in blk.range { out[i] = v[i] / l[i] }
                case .secondOrder: SecondOrderCone.jordanDivide(lambda: l, v, out: out, range: blk.range)
                }
            }
        }
    }

    /// v += a·e on the non-zero cones.
    func addIdentity(_ v: UnsafeMutableBufferPointer<Double>, _ a: Double) {
        for blk in blocks {
            switch blk.kind {
            case .zero: break
            case .nonnegative: for i in blk.range { v[i] += a }
            case .secondOrder: v[blk.range.lowerBound] += a
            }
        }
    }

    /// Largest α ≤ αmax keeping u + α du in K (zero cones impose nothing).
    func stepLength(_ u: UnsafeBufferPointer<Double>, _ du: UnsafeBufferPointer<Double>, alphaMax: Double) -> Double {
        var alpha = alphaMax
        for blk in blocks {
            switch blk.kind {
            case .zero: break
            case .nonnegative: alpha = NonnegativeCone.stepLength(u: u, du: du, range: blk.range, alphaMax: alpha)
            case .secondOrder: alpha = SecondOrderCone.stepLength(u: u, du: du, range: blk.range, alphaMax: alpha)
            }
        }
        return alpha
    }

    /// Moves u into the interior of K along e if needed (u += (1 + α)e, α = −min eigenvalue,
    /// over all non-zero cones together); zero-cone entries of u are set to 0 if `zeroOnZeroCones`.
    func shiftToInterior(_ u: UnsafeMutableBufferPointer<Double>, zeroOnZeroCones: Bool) {
        var alpha = -Double.infinity
        for blk in blocks {
            switch blk.kind {
            case .zero: if zeroOnZeroCones { for i in blk.range { u[i] = 0 } }
            case .nonnegative: alpha = max(alpha, NonnegativeCone.boundaryShift(UnsafeBufferPointer(u), range: blk.range))
            case .secondOrder: alpha = max(alpha, SecondOrderCone.boundaryShift(UnsafeBufferPointer(u), range: blk.range))
            }
        }
        if alpha == -Double.infinity { return }
        if alpha >= -1e-8 { addIdentity(u, 1 + alpha) }
    }

    /// True if u lies in K (to a tolerance), used to validate infeasibility certificates.
    func contains(_ u: UnsafeBufferPointer<Double>, tolerance: Double) -> Bool {
        for blk in blocks {
            switch blk.kind {
            case .zero: break
            case .nonnegative: for i in blk.range where u[i] < -tolerance { return false }
            case .secondOrder:
                if SecondOrderCone.tailNorm(u, blk.range) - u[blk.range.lowerBound] > tolerance { return false }
            }
        }
        return true
    }
}
