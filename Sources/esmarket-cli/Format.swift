// Number formatting for the tool's readable output (printf through the C library: the tool
// does not link Foundation).
#if canImport(Glibc)
import Glibc
#endif

func cFormat(_ format: String, _ value: Double) -> String {
    var buffer = [CChar](repeating: 0, count: 64)
    let count = withVaList([value]) { vsnprintf(&buffer, buffer.count, format, $0) }
    guard count >= 0 else { return "?" }
    return String(decoding: buffer.prefix(min(Int(count), buffer.count - 1)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Six significant digits; what is zero to 1e-9 is written 0 (solver noise such as -3.9e-29
/// is not information).
func formatNumber(_ value: Double) -> String {
    if abs(value) < 1e-9 { return "0" }
    return cFormat("%.6g", value)
}

func formatFixed(_ value: Double, digits: Int) -> String {
    cFormat("%.\(digits)f", value)
}

/// `text` padded with spaces to `width` characters.
func padded(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}
