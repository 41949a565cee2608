extension StringProtocol {
    /// The text without leading and trailing characters of `set`, compared as Unicode scalars (so
    /// `"\r\n"` in `set` means CR and LF, each on its own); shared by the layers above, which use
    /// FoundationEssentials (no `CharacterSet` trimming there).
    public func trimmingCharacters(in set: String) -> String {
        let members = Set(set.unicodeScalars)
        var scalars = Substring(self).unicodeScalars[...]
        while let first = scalars.first, members.contains(first) { scalars.removeFirst() }
        while let last = scalars.last, members.contains(last) { scalars.removeLast() }
        return String(String.UnicodeScalarView(scalars))
    }
}
