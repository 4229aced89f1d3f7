import ESMGrid
import ESMSolver

/// Mechanism `p2p_gne` (spec p2p_gne.md): operationally-safe P2P trading as a generalized
/// aggregative game, the network operator a player owning the network's variables; the outcome
/// is the variational equilibrium (one price per shared constraint, common to every player).
///
/// Assembly: the P2P pieces (`P2PProsumerModel` per prosumer, `BilateralTrades` for reciprocity),
/// the grid's price affine in the total draw, and the operator's network (`GameNetwork`: the
/// paper's linear angle model or LinDistFlow). Routes: `centralized` minimizes the game's
/// potential (`GamePotential`); `proximal_point` runs the paper's semi-decentralized algorithm
/// (`GameProximalPoint`). Both are reported by `GameResult`.
enum P2PGNE {
    static func clear(_ problem: Problem, control: SolveControl) throws -> MarketResult {
        var result = MarketResult(mechanism: .p2pGNE, status: .solved, algorithm: problem.algorithm)
        let setup: GameSetup
        do {
            setup = try GameSetup(problem)
        } catch let infeasible as GameInfeasible {
            result.status = .infeasible
            result.message = infeasible.message
            result.diagnosis = infeasible.diagnosis
            return result
        }
        if control.stopsAtStart(#"{"event":"start","mechanism":"p2p_gne","prosumers":\#(problem.prosumers.count),"trades":\#(setup.graph.edges.count),"periods":\#(problem.periods)}"#, &result) {
            return result
        }
        let started = monotonicSeconds()
        let solved: (outcome: GameOutcome?, status: ConicStatus, message: String)
        switch problem.algorithm {
        case "proximal_point":
            solved = try GameProximalPoint(setup).solve(control: control)
        default:
            solved = try GamePotential(setup).solve(control: control)
        }
        guard let outcome = solved.outcome else {
            result.status = ResultStatus(solved.status).forMarket
            // The solver's own message is often empty (a clean certificate): no empty "()" then.
            let detail = solved.message
            result.message = solved.status == .primalInfeasible || solved.status == .dualInfeasible
                ? "no operating point meets every prosumer's balance, the trade, draw and network limits together"
                    + (detail.isEmpty ? "" : " (\(detail))")
                : "the solver ended with \(solved.status.rawValue)" + (detail.isEmpty ? "" : ": \(detail)")
            result.solveSeconds = monotonicSeconds() - started
            _ = control.report(#"{"event":"done","mechanism":"p2p_gne","status":"\#(result.status.rawValue)"}"#)
            return result
        }
        result.status = ResultStatus(solved.status).forMarket
        if solved.status != .solved { result.message = "the solver ended with \(solved.status.rawValue): \(solved.message)" }
        // The decomposed answer is checked against the centralized one (same equilibrium set).
        var reference: GameOutcome?
        if problem.algorithm == "proximal_point" && problem.options.verifyEquilibrium {
            reference = try GamePotential(setup).solve(control: SolveControl(deadline: control.deadline)).outcome
        }
        try GameResult.fill(&result, setup: setup, outcome: outcome, reference: reference, control: control)
        result.solveSeconds = monotonicSeconds() - started
        _ = control.report(#"{"event":"done","mechanism":"p2p_gne","iterations":\#(outcome.iterations)}"#)
        return result
    }
}
