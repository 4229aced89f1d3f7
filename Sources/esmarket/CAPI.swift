// The C ABI of libesmarket (include/esmarket.h is the reference). Only entry points, error
// mapping and string ownership live here; every call is a pure function of its input.
import ESMGrid
import ESMJSON
import ESMMarkets

#if canImport(Glibc)
import Glibc
#endif

let ESM_OK: Int32 = 0
let ESM_ERR_INVALID_JSON: Int32 = 1
let ESM_ERR_INVALID_INPUT: Int32 = 2
let ESM_ERR_UNSUPPORTED: Int32 = 3
let ESM_ERR_INTERNAL: Int32 = 4
let ESM_ERR_NULL_OUTPUT: Int32 = 5

/// Library version; keep in step with README and bindings/python.
let libraryVersion: StaticString = "0.1.0"
let schemaName: StaticString = "esmarket/1"

func returnCode(_ code: InputError.Code?) -> Int32 {
    switch code {
    case nil: return ESM_OK
    case .invalidJSON: return ESM_ERR_INVALID_JSON
    case .invalidInput: return ESM_ERR_INVALID_INPUT
    case .unsupported: return ESM_ERR_UNSUPPORTED
    case .internalError: return ESM_ERR_INTERNAL
    }
}

/// A malloc'ed NUL-terminated copy, released by `esm_string_free`.
func cString(_ text: String) -> UnsafeMutablePointer<CChar>? {
    var copy = text
    return copy.withUTF8 { bytes -> UnsafeMutablePointer<CChar>? in
        guard let memory = malloc(bytes.count + 1)?.assumingMemoryBound(to: CChar.self) else { return nil }
        bytes.withMemoryRebound(to: CChar.self) { chars in
            if let base = chars.baseAddress { memcpy(memory, base, chars.count) }
        }
        memory[bytes.count] = 0
        return memory
    }
}

/// Hands `reply` to the caller through `out`; allocation failure is `ESM_ERR_INTERNAL`.
func deliver(_ reply: Service.Reply, to out: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    guard let text = cString(reply.json) else {
        out.pointee = nil
        return ESM_ERR_INTERNAL
    }
    out.pointee = text
    return returnCode(reply.error)
}

func bytes(of input: UnsafePointer<CChar>) -> UnsafeBufferPointer<UInt8> {
    UnsafeBufferPointer(start: UnsafeRawPointer(input).assumingMemoryBound(to: UInt8.self), count: strlen(input))
}

let nullInput = InputError(.invalidJSON, path: nil, "not valid JSON at byte 0: the input pointer is NULL")

@_cdecl("esm_version")
public func esm_version() -> UnsafePointer<CChar> {
    UnsafeRawPointer(libraryVersion.utf8Start).assumingMemoryBound(to: CChar.self)
}

@_cdecl("esm_schema")
public func esm_schema() -> UnsafePointer<CChar> {
    UnsafeRawPointer(schemaName.utf8Start).assumingMemoryBound(to: CChar.self)
}

@_cdecl("esm_clear")
public func esm_clear(_ problem: UnsafePointer<CChar>?, _ result: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    esm_clear_with_progress(problem, nil, nil, result)
}

public typealias ProgressFunction = @convention(c) (UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Int32

@_cdecl("esm_clear_with_progress")
public func esm_clear_with_progress(_ problem: UnsafePointer<CChar>?, _ progress: ProgressFunction?,
                                    _ user: UnsafeMutableRawPointer?,
                                    _ result: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    guard let result else { return ESM_ERR_NULL_OUTPUT }
    guard let problem else { return deliver(Service.Reply(nullInput), to: result) }
    var control = SolveControl()
    if let progress {
        control.observer = { event in
            var text = event
            return text.withUTF8 { bytes in
                let copy = [CChar](unsafeUninitializedCapacity: bytes.count + 1) { buffer, count in
                    for k in 0..<bytes.count { buffer[k] = CChar(bitPattern: bytes[k]) }
                    buffer[bytes.count] = 0
                    count = bytes.count + 1
                }
                return copy.withUnsafeBufferPointer { progress($0.baseAddress, user) != 0 }
            }
        }
    }
    return deliver(Service.clear(bytes(of: problem), control: control), to: result)
}

@_cdecl("esm_generate_case")
public func esm_generate_case(_ spec: UnsafePointer<CChar>?, _ problem: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    guard let problem else { return ESM_ERR_NULL_OUTPUT }
    guard let spec else { return deliver(Service.Reply(nullInput), to: problem) }
    return deliver(Service.generateCase(bytes(of: spec)), to: problem)
}

@_cdecl("esm_string_free")
public func esm_string_free(_ text: UnsafeMutablePointer<CChar>?) {
    free(text)
}

// MARK: Sessions (README "Sessions"). A session is a retained `SessionHandle`; the C side holds
// the only reference and releases it with esm_session_free.

let nullSession = InputError(.invalidInput, path: nil, "the session pointer is NULL")

/// The object behind an `esm_session *`: one class, whatever the mechanism, so that the C side's
/// opaque pointer always has the same type.
final class SessionHandle {
    let session: ClearingSession
    init(_ session: ClearingSession) { self.session = session }
}

func sessionBox(_ session: OpaquePointer?) -> ClearingSession? {
    guard let session else { return nil }
    return Unmanaged<SessionHandle>.fromOpaque(UnsafeRawPointer(session)).takeUnretainedValue().session
}

@_cdecl("esm_session_new")
public func esm_session_new(_ config: UnsafePointer<CChar>?, _ error: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> OpaquePointer? {
    guard let config else {
        if let error { _ = deliver(Service.Reply(nullInput), to: error) }
        return nil
    }
    let (session, failure) = Sessions.open(bytes(of: config))
    guard let session else {
        if let error { _ = deliver(failure ?? Service.Reply(InputError(.internalError, path: nil, "no session")), to: error) }
        return nil
    }
    if let error { error.pointee = nil }
    return OpaquePointer(Unmanaged.passRetained(SessionHandle(session)).toOpaque())
}

@_cdecl("esm_session_step")
public func esm_session_step(_ session: OpaquePointer?, _ period: UnsafePointer<CChar>?,
                             _ result: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    guard let result else { return ESM_ERR_NULL_OUTPUT }
    guard let box = sessionBox(session) else { return deliver(Service.Reply(nullSession), to: result) }
    guard let period else { return deliver(Service.Reply(nullInput), to: result) }
    return deliver(box.step(bytes(of: period), control: SolveControl()), to: result)
}

@_cdecl("esm_session_state")
public func esm_session_state(_ session: OpaquePointer?, _ state: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    guard let state else { return ESM_ERR_NULL_OUTPUT }
    guard let box = sessionBox(session) else { return deliver(Service.Reply(nullSession), to: state) }
    return deliver(Service.Reply(error: nil, json: box.state()), to: state)
}

@_cdecl("esm_session_free")
public func esm_session_free(_ session: OpaquePointer?) {
    guard let session else { return }
    Unmanaged<SessionHandle>.fromOpaque(UnsafeRawPointer(session)).release()
}
