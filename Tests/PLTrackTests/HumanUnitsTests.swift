import Testing

@testable import PLTrack

struct HumanUnitsTests {
    @Test(arguments: [
        ("50ms", Duration.milliseconds(50)), ("10s", .seconds(10)), ("1.5s", .milliseconds(1500)),
        ("2m", .seconds(120)), ("24h", .seconds(86_400)), ("250us", .microseconds(250)), ("0", .zero),
    ])
    func readsDurations(_ text: String, _ expected: Duration) {
        #expect(HumanDuration.parse(text) == expected)
    }

    @Test(arguments: ["", "50", "ms", "-5s", "5 parsecs", "1e400s", "fast"])
    func refusesDurationsWithoutANumberAndAUnit(_ text: String) {
        #expect(HumanDuration.parse(text) == nil)
    }

    @Test(arguments: [
        ("1MiB", 1_048_576), ("512KiB", 524_288), ("64kB", 64_000), ("1048576", 1_048_576), ("2GiB", 2_147_483_648),
    ])
    func readsSizes(_ text: String, _ expected: Int) {
        #expect(HumanByteSize.parse(text) == expected)
    }

    @Test(arguments: ["", "-1", "1.5MiB", "MiB", "12 apples"])
    func refusesMalformedSizes(_ text: String) {
        #expect(HumanByteSize.parse(text) == nil)
    }

    @Test func formatsBackTheWayPeopleWrite() {
        #expect(HumanDuration.format(.milliseconds(50)) == "50ms")
        #expect(HumanDuration.format(.seconds(30)) == "30s")
        #expect(HumanByteSize.format(1 << 20) == "1MiB")
    }
}
