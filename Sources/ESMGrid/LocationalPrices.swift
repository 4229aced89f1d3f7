import ESMSolver

/// Locational marginal prices of a solved branch-flow model, split into energy, loss, congestion
/// and voltage components (api.md §3, `buses[].price*`).
///
/// ## What the price is
/// The price of bus i is the dual of its active balance row (`BranchFlowModel.activePrices`): the
/// change of the optimal cost per kW of extra demand at i. Its components follow from the
/// stationarity (KKT) conditions of the network variables, which tie the balance duals of
/// neighbouring buses together. With the solver's convention ∇f = Σ_r y_r ∇e_r, writing for
/// branch j (parent a): λ, κ the active / reactive balance duals, μ the voltage-drop dual, α, β
/// the lower / upper voltage-limit duals, τ, ρ the duals of the sending- and receiving-end
/// thermal cones, and σ the dual of the relaxed branch cone `(v_a + ℓ, 2P, 2Q, v_a − ℓ)`:
///
///     P_j:  λ_j − λ_a + 2 r μ_j + 2 σ1_j + τ1_j + ρ1_j = 0
///     Q_j:  κ_j − κ_a + 2 x μ_j + 2 σ2_j + τ2_j + ρ2_j = 0
///     ℓ_j:  −r λ_j − x κ_j − (r² + x²) μ_j + σ0_j − σ3_j − r ρ1_j − x ρ2_j = 0
///     v_j:  μ_j − Σ_{k child} μ_k − g_j λ_j + b_j κ_j + α_j − β_j + Σ_{k child} (σ0_k + σ3_k) = 0
///
/// At a tight cone complementarity fixes σ's direction: σ_j = t_j (v_a + ℓ, −2P, −2Q, −(v_a − ℓ))
/// with one unknown t_j ≥ 0 (a slack cone, v_a ℓ − P² − Q² > 1e-6 + 1e-4 (v_a ℓ + P² + Q²) in pu,
/// has t_j = 0 and its ℓ row is dropped). At the root
/// λ_0 is the marginal cost of substation import and κ_0 = 0. Given the primal point, these are
/// n square linear systems coupled along the tree: (λ, κ, μ, t) is a *linear* function of the
/// sources λ_0, (α − β) and (τ, ρ). So by superposition
///
///     price = λ_0                    energy: the substation's marginal import cost, the same everywhere
///           + λ[α, β only]           voltage: what the binding voltage limits add
///           + λ[τ, ρ only]           congestion: what the binding thermal limits add
///           + the rest               loss: λ[λ_0 only] − λ_0, marginal losses priced at λ_0
///
/// each bracket being the solution of the system with only those sources (and λ_0 = 0 for the
/// voltage and congestion parts). The loss part is computed as the remainder, so the four
/// components add up to the price exactly; `reconstructionError` reports how far the remainder
/// is from the loss system's own solution: the solver's stationarity error, about 1e-7 … 1e-6
/// relative at a 1e-9 solve with the SOC model, ~1e-12 with LinDistFlow. LinDistFlow has no ℓ:
/// its loss component is zero (up to that error).
///
/// The systems are solved in O(n) by eliminating leaves upward (each bus's unknowns as an affine
/// function of its parent's λ, κ) and substituting downward from the root, with a 4 × 4 dense
/// solve per bus.
public struct LocationalPrices: Sendable {
    /// Per bus, in objective units per kW (divide by the caller's cost scaling).
    public var price: [Double]
    public var energy: [Double]
    public var loss: [Double]
    public var congestion: [Double]
    public var voltage: [Double]
    /// Largest |λ[λ_0] + λ[α, β] + λ[τ, ρ] − λ| over buses, same units as the prices.
    public var reconstructionError: Double
}

extension BranchFlowModel {
    /// The decomposed locational prices at a primal–dual solution (`x`, `y`) of `built`.
    /// Every number is finite; a bus whose local system is singular gets its whole deviation
    /// from the energy price as loss.
    public func locationalPrices(x: [Double], y: [Double], model built: ConicModel) -> LocationalPrices {
        let f = feeder
        let n = f.busCount
        let zeros = [Double](repeating: 0, count: n)
        let price = activePrices(y: y, model: built)
        var result = LocationalPrices(price: price, energy: zeros, loss: zeros, congestion: zeros, voltage: zeros,
                                      reconstructionError: 0)
        guard n > 0, x.count == built.problem.q.count, y.count == built.problem.b.count else { return result }
        let lambda = built.values(of: activeBalance, in: y).map { $0 }
        guard lambda.count == n else { return result }
        func value(_ i: Int) -> Double { i >= 0 && i < x.count ? x[i] : 0 }

        // Sources: voltage-limit duals (α − β) per bus, thermal duals (τ1, τ2, ρ1, ρ2) per branch.
        var limitDual = zeros
        if let group = voltageLimits {
            let d = Array(built.values(of: group, in: y))
            if d.count == 2 * n { for bus in 0..<n { limitDual[bus] = d[2 * bus] - d[2 * bus + 1] } }
        }
        // The linearized voltage ceiling (`VoltageCeiling.swift`) acts like an upper voltage
        // limit: its dual γ enters v_j's row as −γ, and through D_j, LP_j, LQ_j (duals η, ω, ω')
        // ℓ_j's row as −r ω_j − x ω'_j + (r² + x²) η_j; both are voltage sources.
        var ceilingOnL = zeros
        var ceilingOnP = zeros
        if let ceiling {
            let omegaP = Array(built.values(of: ceiling.lossPRows, in: y))
            let omegaQ = Array(built.values(of: ceiling.lossQRows, in: y))
            let eta = Array(built.values(of: ceiling.driftRows, in: y))
            let gamma = ceiling.limits.map { Array(built.values(of: $0, in: y)) } ?? []
            let count = ceiling.buses.count
            // Linearized rows (`VoltageCeiling.linearized`): γ · (coefficient of P_k) enters P_k's
            // row as a voltage source (the LP_k terms reach ℓ through ω, read from y below).
            if gamma.count == count && ceiling.flowCoefficients.count == count {
                for (i, coefficients) in ceiling.flowCoefficients.enumerated() {
                    for (bus, c) in coefficients where bus < n { ceilingOnP[bus] += gamma[i] * c }
                }
            }
            if omegaP.count == count, omegaQ.count == count, eta.count == count {
                for (i, bus) in ceiling.buses.enumerated() {
                    if gamma.count == count { limitDual[bus] -= gamma[i] }
                    if l[bus] >= 0 {
                        ceilingOnL[bus] = -f.r[bus] * omegaP[i] - f.x[bus] * omegaQ[i]
                            + (f.r[bus] * f.r[bus] + f.x[bus] * f.x[bus]) * eta[i]
                    }
                }
            }
        }
        var tau1 = zeros, tau2 = zeros, rho1 = zeros, rho2 = zeros
        if let group = thermalLimits {
            let d = Array(built.values(of: group, in: y))
            var row = 0
            for bus in 0..<n where f.parent[bus] >= 0 && f.rating[bus] != nil {
                guard row + 3 <= d.count else { break }
                tau1[bus] = d[row + 1]
                tau2[bus] = d[row + 2]
                row += 3
                if l[bus] >= 0, row + 3 <= d.count {
                    rho1[bus] = d[row + 1]
                    rho2[bus] = d[row + 2]
                    row += 3
                }
            }
        }

        // Lossless thermal cones of the voltage ceiling: like the sending-end cone on P_j, Q_j (their
        // LP, LQ parts reach ℓ through ω, ω').
        if let ceiling, let group = ceiling.losslessThermal {
            let d = Array(built.values(of: group, in: y))
            if d.count == 3 * ceiling.losslessRated.count {
                for (i, bus) in ceiling.losslessRated.enumerated() {
                    tau1[bus] += d[3 * i + 1]
                    tau2[bus] += d[3 * i + 2]
                }
            }
        }

        // Per bus: does the branch keep its ℓ row (tight cone), and the cone's dual direction.
        var tight = [Bool](repeating: false, count: n)
        var d1 = zeros, d2 = zeros, dDiff = zeros, dSum = zeros
        for bus in 0..<n where f.parent[bus] >= 0 && l[bus] >= 0 {
            let va = max(value(v[f.parent[bus]]), 0), lj = max(value(l[bus]), 0)
            let pj = value(p[bus]), qj = value(q[bus])
            let product = va * lj, flow2 = pj * pj + qj * qj
            // A slack cone has a visible phantom loss; interior-point noise on a tight one (also at
            // zero flow, where ℓ → 0) stays far below 1e-6 pu².
            tight[bus] = product - flow2 <= 1e-6 + 1e-4 * (product + flow2)
            d1[bus] = -2 * pj
            d2[bus] = -2 * qj
            dDiff[bus] = 2 * va          // (v_a + ℓ) + (v_a − ℓ)
            dSum[bus] = 2 * lj           // (v_a + ℓ) − (v_a − ℓ)
        }

        // Upward pass: u_j = (λ_j, κ_j, μ_j, t_j) = M_j (λ_a, κ_a) + m_j^s for the sources
        // s = voltage (0) and congestion (1). `gChild`, `hChild`: what the children put into bus
        // j's v row, Σ_k c_kᵀ u_k with c_k = (0, 0, −1, σ0 + σ3 direction).
        var mapL = [(Double, Double)](repeating: (0, 0), count: n)   // λ_j's coefficients on (λ_a, κ_a)
        var mapK = [(Double, Double)](repeating: (0, 0), count: n)
        var offL = [(Double, Double)](repeating: (0, 0), count: n)   // λ_j's offsets, (voltage, congestion)
        var offK = [(Double, Double)](repeating: (0, 0), count: n)
        var gChild = [(Double, Double)](repeating: (0, 0), count: n)
        var hChild = [(Double, Double)](repeating: (0, 0), count: n)
        for bus in f.order.reversed() where f.parent[bus] >= 0 {
            let r = f.r[bus], xr = f.x[bus], z2 = r * r + xr * xr
            let withT = l[bus] >= 0 && tight[bus]
            let size = withT ? 4 : 3
            // Rows: P, Q, v, [ℓ]; columns λ, κ, μ, [t]. Right-hand sides: e_λa, e_κa, voltage, congestion.
            var a = [Double](repeating: 0, count: 16), rhs = [Double](repeating: 0, count: 16)
            func set(_ i: Int, _ j: Int, _ value: Double) { a[i * 4 + j] = value }
            func setRHS(_ i: Int, _ k: Int, _ value: Double) { rhs[i * 4 + k] = value }
            set(0, 0, 1); set(0, 2, 2 * r)
            set(1, 1, 1); set(1, 2, 2 * xr)
            set(2, 0, gChild[bus].0 - f.gShunt[bus]); set(2, 1, f.bCap[bus] + gChild[bus].1); set(2, 2, 1)
            setRHS(0, 0, 1); setRHS(1, 1, 1)
            setRHS(0, 3, -tau1[bus] - rho1[bus])
            setRHS(1, 3, -tau2[bus] - rho2[bus])
            setRHS(2, 2, -limitDual[bus] - hChild[bus].0)
            setRHS(0, 2, ceilingOnP[bus])
            setRHS(2, 3, -hChild[bus].1)
            if withT {
                set(0, 3, 2 * d1[bus]); set(1, 3, 2 * d2[bus])
                set(3, 0, -r); set(3, 1, -xr); set(3, 2, -z2); set(3, 3, dDiff[bus])
                setRHS(3, 3, r * rho1[bus] + xr * rho2[bus])
                setRHS(3, 2, -ceilingOnL[bus])
            }
            guard let u = solveDense(a, rhs, size: size) else { continue }
            // u[i * 4 + k]: unknown i for right-hand side k.
            mapL[bus] = (u[0], u[1]); offL[bus] = (u[2], u[3])
            mapK[bus] = (u[4], u[5]); offK[bus] = (u[6], u[7])
            // Child contribution c = (0, 0, −1, 2ℓ) to the parent's v row.
            let sumT = withT ? dSum[bus] : 0
            func c(_ k: Int) -> Double { -u[8 + k] + (withT ? sumT * u[12 + k] : 0) }
            let par = f.parent[bus]
            gChild[par].0 += c(0)
            gChild[par].1 += c(1)
            hChild[par].0 += c(2)
            hChild[par].1 += c(3)
        }

        // Downward pass from the root: λ_0 drives the energy/loss system, 0 the other two.
        var lamE = zeros, kapE = zeros, lamV = zeros, kapV = zeros, lamC = zeros, kapC = zeros
        lamE[f.root] = lambda[f.root]
        for bus in f.order where f.parent[bus] >= 0 {
            let a = f.parent[bus]
            lamE[bus] = mapL[bus].0 * lamE[a] + mapL[bus].1 * kapE[a]
            kapE[bus] = mapK[bus].0 * lamE[a] + mapK[bus].1 * kapE[a]
            lamV[bus] = mapL[bus].0 * lamV[a] + mapL[bus].1 * kapV[a] + offL[bus].0
            kapV[bus] = mapK[bus].0 * lamV[a] + mapK[bus].1 * kapV[a] + offK[bus].0
            lamC[bus] = mapL[bus].0 * lamC[a] + mapL[bus].1 * kapC[a] + offL[bus].1
            kapC[bus] = mapK[bus].0 * lamC[a] + mapK[bus].1 * kapC[a] + offK[bus].1
        }

        let perKW = 1 / f.baseKVA
        var worst = 0.0
        for bus in 0..<n {
            let energy = lambda[f.root] * perKW
            let voltage = Feeder.finite(lamV[bus] * perKW)
            let congestion = Feeder.finite(lamC[bus] * perKW)
            result.energy[bus] = Feeder.finite(energy)
            result.voltage[bus] = voltage
            result.congestion[bus] = congestion
            result.loss[bus] = Feeder.finite(price[bus] - result.energy[bus] - voltage - congestion)
            let rebuilt = (lamE[bus] + lamV[bus] + lamC[bus]) * perKW
            worst = max(worst, abs(rebuilt - price[bus]))
        }
        result.reconstructionError = Feeder.finite(worst)
        return result
    }
}

/// Solves the `size` × `size` system (row-major in a 4 × 4 array `a`) for the four right-hand
/// sides stored as the columns of `rhs` (4 × 4, row-major), by Gaussian elimination with partial
/// pivoting. Returns the solutions in the same layout (unknown i, right-hand side k at i·4 + k),
/// or nil when a pivot vanishes.
private func solveDense(_ a: [Double], _ rhs: [Double], size: Int) -> [Double]? {
    var m = a, b = rhs
    var scale = 0.0
    for i in 0..<size { for j in 0..<size { scale = max(scale, abs(m[i * 4 + j])) } }
    guard scale > 0, scale.isFinite else { return nil }
    for col in 0..<size {
        var pivot = col
        for row in col + 1 ..< size where abs(m[row * 4 + col]) > abs(m[pivot * 4 + col]) { pivot = row }
        guard abs(m[pivot * 4 + col]) > 1e-14 * scale else { return nil }
        if pivot != col {
            for j in 0..<4 {
                m.swapAt(col * 4 + j, pivot * 4 + j)
                b.swapAt(col * 4 + j, pivot * 4 + j)
            }
        }
        let inv = 1 / m[col * 4 + col]
        for row in col + 1 ..< size {
            let factor = m[row * 4 + col] * inv
            if factor == 0 { continue }
            for j in col..<size { m[row * 4 + j] -= factor * m[col * 4 + j] }
            for k in 0..<4 { b[row * 4 + k] -= factor * b[col * 4 + k] }
        }
    }
    var out = [Double](repeating: 0, count: 16)
    for row in stride(from: size - 1, through: 0, by: -1) {
        for k in 0..<4 {
            var s = b[row * 4 + k]
            for j in row + 1 ..< size { s -= m[row * 4 + j] * out[j * 4 + k] }
            out[row * 4 + k] = s / m[row * 4 + row]
        }
    }
    for v in out where !v.isFinite { return nil }
    return out
}
