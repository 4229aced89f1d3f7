/// A time-varying input (api.md §1, "Periods"): one value for every period, or one value per
/// period. The constant case stores no array, which keeps a million single-period prosumers
/// cheap to decode.
public struct Series: Sendable, Equatable {
    private let constant: Double
    private let values: [Double]?

    /// The same value in every period.
    public init(_ value: Double) {
        constant = value
        values = nil
    }

    /// One value per period (the caller checks the count against `periods`).
    public init(_ values: [Double]) {
        constant = values.first ?? 0
        self.values = values
    }

    /// The value in period `t`.
    @inlinable
    public subscript(_ t: Int) -> Double { valuesStorage.map { $0[t] } ?? constantStorage }

    @usableFromInline var constantStorage: Double { constant }
    @usableFromInline var valuesStorage: [Double]? { values }

    /// Every value times `factor`.
    public func scaled(by factor: Double) -> Series {
        if let values { return Series(values.map { $0 * factor }) }
        return Series(constant * factor)
    }
}
