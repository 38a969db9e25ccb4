import Foundation
import PLTrackTestSupport
import Testing

@testable import PLTrack

struct RetryPolicyTests {
    let policy = RetryPolicy(base: .milliseconds(100), cap: .seconds(30))

    @Test(arguments: [200, 201, 204])
    func successIsDelivered(_ status: Int) {
        #expect(self.policy.classify(.answered(status: status, retryAfter: nil, body: "")) == .delivered)
    }

    @Test(arguments: [408, 429, 500, 502, 503, 504])
    func transientStatusesAreRetried(_ status: Int) {
        #expect(
            self.policy.classify(.answered(status: status, retryAfter: .seconds(3), body: ""))
                == .retry(notBefore: .seconds(3)))
    }

    @Test(arguments: [400, 401, 403, 404, 422])
    func otherClientErrorsAreFinal(_ status: Int) {
        #expect(
            self.policy.classify(.answered(status: status, retryAfter: nil, body: "no"))
                == .deadLetter(status: status, body: "no"))
    }

    @Test func connectionFailuresAreRetried() {
        #expect(self.policy.classify(.failed(reason: "refused")) == .retry(notBefore: nil))
    }

    @Test func backoffStaysUnderTheExponentialCeilingAndTheCap() {
        var generator = SeededGenerator(seed: 42)
        for attempt in 1...30 {
            let ceiling = min(Duration.seconds(30), .milliseconds(100) * (1 << min(attempt - 1, 40)))
            for _ in 0..<50 {
                let delay = self.policy.backoff(afterAttempt: attempt, notBefore: nil, using: &generator)
                #expect(delay >= .zero && delay <= ceiling)
            }
        }
    }

    @Test func backoffIsJittered() {
        var generator = SeededGenerator(seed: 7)
        let delays = Set((0..<20).map { _ in self.policy.backoff(afterAttempt: 5, notBefore: nil, using: &generator) })
        #expect(delays.count > 10)
    }

    @Test func retryAfterIsAFloor() {
        var generator = SeededGenerator(seed: 1)
        for _ in 0..<50 {
            #expect(self.policy.backoff(afterAttempt: 1, notBefore: .seconds(5), using: &generator) >= .seconds(5))
        }
    }

    @Test func aHugeRetryAfterWaitsNoLongerThanTheCap() {
        var generator = SeededGenerator(seed: 3)
        let huge = HTTPUpstream.parseRetryAfter("99999999999")
        #expect(huge == .seconds(99_999_999_999))
        #expect(self.policy.backoff(afterAttempt: 1, notBefore: huge, using: &generator) == .seconds(30))
    }

    @Test(arguments: [("0", Duration.zero), ("7", .seconds(7)), (" 12 ", .seconds(12))])
    func readsRetryAfterSeconds(_ header: String, _ expected: Duration) {
        #expect(HTTPUpstream.parseRetryAfter(header) == expected)
    }

    @Test func readsRetryAfterAsAnHTTPDate() {
        #expect(HTTPUpstream.parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT") == .zero)
        // An hour ahead: about 3,600 s, whatever the second this runs in.
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let ahead = HTTPUpstream.parseRetryAfter(formatter.string(from: Date().addingTimeInterval(3600)))
        #expect(ahead.map { $0 > .seconds(3500) && $0 <= .seconds(3600) } == true)
        #expect(HTTPUpstream.parseRetryAfter("soon") == nil)
    }
}
