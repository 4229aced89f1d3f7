// `clear --progress`: the solve's progress events (the same JSON events esm_clear_with_progress
// hands to its observer) drawn as one live line on standard error. On a terminal the line is
// redrawn in place at most ten times a second; otherwise (a log file) each shown event is a line.
import ESMMarkets
#if canImport(Glibc)
import Glibc
#endif

final class ProgressLine {
    let start = monotonicSeconds()
    let live = isatty(2) != 0
    var lastDrawn = -Double.infinity
    var events = 0
    var pending: String?

    /// The observer for `SolveControl`; it never asks the solve to stop.
    func observe(_ event: String) -> Bool {
        events += 1
        let line = Self.describe(event, elapsed: monotonicSeconds() - start, count: events)
        let now = monotonicSeconds()
        // Start and done events are always shown; the rest at most every 0.1 s.
        let important = event.contains(#""event":"start""#) || event.contains(#""event":"done""#)
        if important || now - lastDrawn >= 0.1 {
            draw(line)
            lastDrawn = now
            pending = nil
        } else {
            pending = line
        }
        return false
    }

    func draw(_ line: String) {
        writeStandardError(live ? "\r\u{1B}[K" + line : line + "\n")
    }

    /// Draws the last event not yet shown and ends the live line.
    func finish() {
        if let pending { draw(pending) }
        if live && events > 0 { writeStandardError("\n") }
    }

    /// `{"event":"node","mechanism":"x","nodes":3}` → `[  0.4 s] x node: nodes 3`.
    static func describe(_ event: String, elapsed: Double, count: Int) -> String {
        let members = JSONValue.parse(event)?.members ?? []
        let name = members.first { $0.key == "event" }?.value.string ?? "event"
        let mechanism = members.first { $0.key == "mechanism" }?.value.string.map { $0 + " " } ?? ""
        let fields = members.filter { $0.key != "event" && $0.key != "mechanism" }.map { member -> String in
            switch member.value {
            case .number(let value): return "\(member.key) \(formatNumber(value))"
            case .string(let text): return "\(member.key) \(text)"
            case .bool(let flag): return "\(member.key) \(flag)"
            default: return member.key
            }
        }
        let clock = formatFixed(elapsed, digits: 1)
        return "[\(String(repeating: " ", count: max(0, 6 - clock.count)))\(clock) s] \(mechanism)\(name)"
            + (fields.isEmpty ? "" : ": " + fields.joined(separator: ", ")) + " (event \(count))"
    }
}
