/// A convex cost C(G), given by its consecutive segments, written for the solver with only a window
/// of them exact and the rest replaced by chords (`two_layer_voltage`'s upper layer, where a
/// community has one segment per response piece — ~100 for 100 prosumers — but its optimum touches
/// one or two).
///
/// Chords of a convex function over consecutive runs of segments, followed by exact segments,
/// followed by chords, are again a convex function H ≥ C that equals C on the window. If at the
/// optimum of the problem written with H every injection lies inside its window by a margin (or at
/// an end of its domain, where H = C on the side that exists), then H = C in a neighbourhood of
/// that optimum; a local optimum of a convex problem is global, so it is the optimum with C. Where
/// an injection is not certified that way its window grows around it and the problem is solved
/// again: windows only grow, so this ends, at worst with every segment exact.
struct CostWindow: Equatable {
    /// The segments written exactly (indices into the full list); chords on either side.
    var exact: Range<Int>

    /// Chords on each side of the window, for a list of `count` segments: about √count / 2, so
    /// that the first solve (chords only) and the second (a window two chords wide) both write
    /// O(√count) pieces per community — ~5 at 100 prosumers, ~40 at 8,000.
    static func chordsPerSide(count: Int) -> Int { max(4, Int(Double(count).squareRoot() / 2)) }

    /// A list this short is written exactly from the start.
    static let shortList = 16

    /// The first window: empty, in the middle of the list (every segment inside a chord), or the
    /// whole list when it is short.
    init(count: Int) {
        exact = count <= Self.shortList ? 0..<count : (count / 2)..<(count / 2)
    }

    init(exact: Range<Int>) { self.exact = exact }

    func isComplete(count: Int) -> Bool { exact.lowerBound == 0 && exact.upperBound == count }

    /// Chords over `range`, split into at most `chordsPerSide` runs of nearly equal counts.
    private static func chords(_ full: [CommunityBestResponse.CostSegment], _ range: Range<Int>)
        -> [CommunityBestResponse.CostSegment] {
        guard !range.isEmpty else { return [] }
        let runs = min(chordsPerSide(count: full.count), range.count)
        var out: [CommunityBestResponse.CostSegment] = []
        var start = range.lowerBound
        for r in 0..<runs {
            let end = range.lowerBound + (range.count * (r + 1)) / runs
            let first = full[start], last = full[end - 1]
            let g0 = first.injectionLow, g1 = last.injectionHigh
            let c0 = first.costLow, c1 = last.cost(g1)
            out.append(.init(piece: first.piece, injectionLow: g0, injectionHigh: g1, costLow: c0,
                             slopeLow: g1 > g0 ? (c1 - c0) / (g1 - g0) : 0, curvature: 0))
            start = end
        }
        return out
    }

    /// What the solver sees: chords, the exact window, chords.
    func segments(_ full: [CommunityBestResponse.CostSegment]) -> [CommunityBestResponse.CostSegment] {
        Self.chords(full, 0..<exact.lowerBound) + Array(full[exact]) + Self.chords(full, exact.upperBound..<full.count)
    }

    /// Whether the written cost equals C near `g`: `g` inside the window by more than `margin`, or
    /// at an end of the window that is an end of the domain.
    func certifies(_ g: Double, in full: [CommunityBestResponse.CostSegment], margin: Double) -> Bool {
        guard !exact.isEmpty else { return false }
        let lowOK = exact.lowerBound == 0 || g >= full[exact.lowerBound].injectionLow + margin
        let highOK = exact.upperBound == full.count || g <= full[exact.upperBound - 1].injectionHigh - margin
        return lowOK && highOK
    }

    /// The window grown to cover `radius` segments on each side of the one holding `g`, and at
    /// least [g − reach, g + reach] (segments can be far shorter than the margin).
    func grown(around g: Double, in full: [CommunityBestResponse.CostSegment], radius: Int, reach: Double) -> CostWindow {
        var low = 0, high = full.count - 1
        while low < high {   // the first segment whose high end reaches g
            let mid = (low + high) / 2
            if full[mid].injectionHigh < g { low = mid + 1 } else { high = mid }
        }
        var from = max(0, low - radius), to = min(full.count, low + radius + 1)
        while from > 0 && full[from].injectionLow > g - reach { from -= 1 }
        while to < full.count && full[to - 1].injectionHigh < g + reach { to += 1 }
        guard !exact.isEmpty else { return CostWindow(exact: from..<to) }
        return CostWindow(exact: min(from, exact.lowerBound)..<max(to, exact.upperBound))
    }

    /// A window around where the marginal cost C′ reaches `slope` (the first segment whose slope
    /// at its high end does): where a community's optimum lies when `slope` is the price of
    /// injection at its bus. `radius` segments each side, and at least ±`reach` kW.
    static func aroundSlope(_ slope: Double, in full: [CommunityBestResponse.CostSegment], radius: Int,
                            reach: Double) -> CostWindow {
        var low = 0, high = full.count - 1
        while low < high {
            let mid = (low + high) / 2
            if full[mid].slopeHigh < slope { low = mid + 1 } else { high = mid }
        }
        let segment = full[low]
        let g = segment.curvature > 0
            ? min(max(segment.injectionLow + (slope - segment.slopeLow) / segment.curvature, segment.injectionLow), segment.injectionHigh)
            : segment.injectionLow
        return CostWindow(exact: low..<low).grown(around: g, in: full, radius: radius, reach: reach)
    }

    /// Segments a chord spans when `count` segments are split into the first chords.
    static func chordWidth(count: Int) -> Int {
        let chords = 2 * chordsPerSide(count: count)
        return (count + chords - 1) / chords
    }
}
