// Reading and writing the tool's files through the C library, so that a failure carries the
// system's reason ("cannot read /tmp: Is a directory"), and exits with ExitStatus.io.
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

func systemReason(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "error \(code)" }
    return String(cString: text)
}

func writeStandardError(_ text: String) {
    var copy = text
    copy.withUTF8 { bytes in _ = writeAll(2, bytes) }
}

/// Writes every byte of `bytes` to `descriptor`; the errno of the failure otherwise.
@discardableResult
func writeAll(_ descriptor: Int32, _ bytes: UnsafeBufferPointer<UInt8>) -> Int32? {
    guard let base = bytes.baseAddress else { return nil }
    var done = 0
    while done < bytes.count {
        let count = write(descriptor, base + done, bytes.count - done)
        if count < 0 {
            if errno == EINTR { continue }
            return errno
        }
        done += count
    }
    return nil
}

/// The whole content of `path` ("-": standard input).
func readInput(_ path: String) throws -> String {
    let descriptor = path == "-" ? 0 : open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else {
        complain("cannot read \(path): \(systemReason(errno))")
        throw ExitStatus.io.exitCode
    }
    defer { if descriptor != 0 { close(descriptor) } }
    var data: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EINTR { continue }
            complain("cannot read \(path == "-" ? "standard input" : path): \(systemReason(errno))")
            throw ExitStatus.io.exitCode
        }
        if count == 0 { break }
        data.append(contentsOf: chunk[0..<count])
    }
    return String(decoding: data, as: UTF8.self)
}

/// Writes `text` and a newline to `path`, or to standard output when `path` is nil.
func writeOutput(_ text: String, to path: String?) throws {
    var copy = text + "\n"
    guard let path, path != "-" else {
        if let failure = copy.withUTF8({ writeAll(1, $0) }) {
            complain("cannot write standard output: \(systemReason(failure))")
            throw ExitStatus.io.exitCode
        }
        return
    }
    let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else {
        complain("cannot write \(path): \(systemReason(errno))")
        throw ExitStatus.io.exitCode
    }
    let failure = copy.withUTF8 { writeAll(descriptor, $0) }
    let closed = close(descriptor) == 0 ? nil : errno
    if let failure = failure ?? closed {
        complain("cannot write \(path): \(systemReason(failure))")
        throw ExitStatus.io.exitCode
    }
}
