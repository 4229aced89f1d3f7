import ESMGrid
import ESMSolver

/// The paper's semi-decentralized preconditioned proximal-point algorithm (spec §4).
struct GameProximalPoint {
    let setup: GameSetup

    init(_ setup: GameSetup) { self.setup = setup }

    func solve(control: SolveControl) throws -> (outcome: GameOutcome?, status: ConicStatus, message: String) {
        throw InputError.unsupported("options.algorithm", "p2p_gne's proximal_point route is not implemented yet in this version; use \"centralized\"")
    }
}
