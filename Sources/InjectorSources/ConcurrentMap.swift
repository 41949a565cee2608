extension Array where Element: Sendable {
    /// `transform` over every element, at most `limit` at a time, the results in the elements' order.
    package func concurrentMap<Output: Sendable>(
        limit: Int, _ transform: @escaping @Sendable (Element) async -> Output
    ) async -> [Output] {
        await withTaskGroup(of: (Int, Output).self) { group in
            var outputs = [Output?](repeating: nil, count: count)
            var next = 0
            while next < Swift.min(limit, count) {
                let index = next
                group.addTask { (index, await transform(self[index])) }
                next += 1
            }
            while let (index, output) = await group.next() {
                outputs[index] = output
                if next < count {
                    let index = next
                    group.addTask { (index, await transform(self[index])) }
                    next += 1
                }
            }
            return outputs.map { $0! }
        }
    }
}
