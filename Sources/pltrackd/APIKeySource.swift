import ArgumentParser
import Foundation
import PLTrack

/// Reads the API key once: from `--api-key-file`, else from `PROMPTLAYER_API_KEY`.
enum APIKeySource {
    static func load(file: String?, environment: [String: String]) throws -> APIKey? {
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ValidationError("--api-key-file: cannot read \(file)")
            }
            let key = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !key.isEmpty else {
                throw ValidationError("--api-key-file: \(file) is empty")
            }
            return APIKey(key)
        }
        if let key = environment["PROMPTLAYER_API_KEY"]?.trimmingCharacters(in: .whitespacesAndNewlines), !key.isEmpty {
            return APIKey(key)
        }
        return nil
    }
}
