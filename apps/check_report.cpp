// gracedb-kafka check's report: each step printed as it ends (status, timing, detail, what to do), and the
// words for a token (where it was found and its claims, never the token itself).
#include <iomanip>
#include <iostream>
#include <sstream>

#include "check_steps.hpp"
#include "common/text.hpp"
#include "output.hpp"

namespace gracedb::app::check {

void Report::step(const std::string& name, Status s, std::optional<double> ms, const std::string& detail,
                  const std::string& advice) {
    ++number_;
    std::ostringstream line;
    line << std::setw(2) << number_ << ". " << std::left << std::setw(14) << name << std::setw(5)
         << (s == Status::ok     ? "ok"
             : s == Status::fail ? "FAIL"
             : s == Status::warn ? "WARN"
                                 : "skip")
         << std::right << std::setw(10);
    if (ms) {
        line << std::fixed << std::setprecision(1) << *ms << " ms";
    } else {
        line << "" << "   ";  // no timing of its own
    }
    line << "  " << detail << "\n";
    if (!advice.empty()) line << "                                    what to do: " << advice << "\n";
    std::cout << repair_utf8(line.str());
    std::cout.flush();
    if (s == Status::warn) ++warned_;
    if (s == Status::fail) {
        ++failed_;
        if (first_failure_.empty())
            first_failure_ = "step " + std::to_string(number_) + " (" + name + "): " + detail;
    }
}

double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::string duration_words(std::chrono::seconds s) {
    const auto n = s.count();
    std::ostringstream out;
    if (n < 0) return "expired";
    if (n >= 86400) out << n / 86400 << " d ";
    if (n >= 3600) out << (n % 86400) / 3600 << " h ";
    out << (n % 3600) / 60 << " min " << n % 60 << " s";
    return out.str();
}

std::string describe_token(const FoundToken& t) {
    const auto& c = t.claims;
    std::string s =
        t.source + ": sub \"" + c.sub + "\", scope \"" + c.scope + "\", aud " + detail::join_quoted(c.aud);
    if (c.exp) {
        const auto left =
            std::chrono::duration_cast<std::chrono::seconds>(*c.exp - std::chrono::system_clock::now());
        s += ", expires in " + duration_words(left);
    }
    return s;
}

std::string places_text(const TokenSearch& s) {
    std::string out;
    for (const auto& p : s.places) out += (out.empty() ? "" : "; ") + p.place + ": " + p.finding;
    return out;
}

}  // namespace gracedb::app::check
