extension StringProtocol {
    /// The text without leading and trailing characters of `set`; shared by the layers above,
    /// which use FoundationEssentials (no `CharacterSet` trimming there).
    public func trimmingCharacters(in set: String) -> String {
        var slice = Substring(self)
        while let first = slice.first, set.contains(first) { slice.removeFirst() }
        while let last = slice.last, set.contains(last) { slice.removeLast() }
        return String(slice)
    }
}
