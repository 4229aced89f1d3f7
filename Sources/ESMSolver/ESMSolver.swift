// ESMSolver — sparse linear algebra and a conic interior-point solver, in pure Swift.
// It knows nothing of markets or grids.
//
// Problem (ConicProblem.swift):  min ½xᵀPx + qᵀx  s.t.  Ax + s = b,  s ∈ K,
// K a product of zero, nonnegative and second-order cones, P given by its upper triangle.
//
// Entry points
//   solveConic(_:settings:onIteration:) -> ConicSolution        one call; never traps
//   ConicSolver(problem:settings:) throws / solve() / update(q:) / update(b:)
//                                                                setup once, solve many times
//   solveMixedInteger(_:settings:onProgress:) -> MixedIntegerSolution
//                                                                binaries by branch-and-bound
//   consensusADMM(...), exchangeADMM(...)                        distributed building blocks
//   QuasiDefiniteLDL                                             the sparse LDLᵀ on its own
//
// Files, by layer
//   SparseMatrixOps.swift    CSC checks, canonical form, transpose, mat-vec kernels
//   MinimumDegree.swift      approximate minimum degree ordering (quotient graph)
//   LDL.swift                elimination tree, symbolic + numeric LDLᵀ, solves, refinement
//   NonnegativeCone.swift, SecondOrderCone.swift, CompositeCone.swift
//                            one file per cone (NT scaling, Jordan algebra, step length)
//   KKTSystem.swift          KKT pattern built once, cone block updated in place
//   Equilibration.swift      Ruiz scaling of the data and the cost
//   SolverSettings.swift     settings (one struct), statuses, solution, iteration info, errors
//   ConicSolver.swift        the homogeneous self-dual interior-point method
//   BranchAndBound.swift     best-bound search over binaries on top of ConicSolver
//   ADMM.swift               consensus and exchange ADMM with residual balancing
//
// Conventions: duals as Clarabel (Px + q + Aᵀy = 0, y ∈ K*, ⟨s, y⟩ = 0); infeasibility
// certificates normalized to bᵀy = −1 (primal) or qᵀx = −1 (dual); every number returned is
// finite; no global state, so distinct solver instances may run on different threads.
