// common_milter_test.cpp — the libmilter adapter's core without libmilter's loop: status
// mapping, exceptions → SMFIS_TEMPFAIL with one log line, connect info, negotiation, header
// spacing.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <libmilter/mfapi.h>
#include <netinet/in.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/log_detail.hpp"
#include "common/milter.hpp"
#include "common/milter_detail.hpp"

namespace postern {
namespace {

class Throwing : public MilterSession {
 public:
  MilterStatus on_header(MilterContext&, std::string_view, std::string_view) override {
    throw std::runtime_error("key server down");
  }
  MilterStatus on_end_of_message(MilterContext&) override { throw 42; }
  MilterStatus on_body(MilterContext&, std::string_view) override { return MilterStatus::Skip; }
};

class MilterGuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::init("postern-test", log::Target::Stderr, log::Level::Info);
    log::detail::set_sink([this](log::Level, std::string_view line) { lines_.emplace_back(line); });
  }
  void TearDown() override { log::detail::set_sink(nullptr); }
  std::vector<std::string> lines_;
  MilterContext ctx_{nullptr};
  Throwing session_;
};

TEST(MilterStatusMap, Table) {
  struct Case {
    MilterStatus status;
    bool skip_allowed;
    int want;
  } cases[] = {
      {MilterStatus::Continue, false, SMFIS_CONTINUE},
      {MilterStatus::Accept, false, SMFIS_ACCEPT},
      {MilterStatus::Reject, false, SMFIS_REJECT},
      {MilterStatus::Discard, false, SMFIS_DISCARD},
      {MilterStatus::Tempfail, false, SMFIS_TEMPFAIL},
      {MilterStatus::Skip, true, SMFIS_SKIP},
      {MilterStatus::Skip, false, SMFIS_CONTINUE},
  };
  for (const auto& c : cases) {
    int got = detail::to_smfis(c.status, c.skip_allowed);
    EXPECT_EQ(got, c.want) << "status " << static_cast<int>(c.status) << ": got " << got
                           << ", want " << c.want;
  }
}

TEST_F(MilterGuardTest, StdExceptionBecomesTempfailAndOneLogLine) {
  int got = detail::guarded_session_call("header", ctx_, &session_, [&](MilterSession& s) {
    return s.on_header(ctx_, "From", " a@b");
  });
  EXPECT_EQ(got, SMFIS_TEMPFAIL) << "got " << got << ", want SMFIS_TEMPFAIL";
  ASSERT_EQ(lines_.size(), 1u);
  std::string want = "milter-error stage=header reason=\"key server down\" action=tempfail";
  EXPECT_EQ(lines_[0], want) << "got " << lines_[0] << ", want " << want;
}

TEST_F(MilterGuardTest, NonStdExceptionBecomesTempfail) {
  int got = detail::guarded_session_call(
      "eom", ctx_, &session_, [&](MilterSession& s) { return s.on_end_of_message(ctx_); });
  EXPECT_EQ(got, SMFIS_TEMPFAIL);
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0], "milter-error stage=eom reason=\"unknown exception\" action=tempfail");
}

TEST_F(MilterGuardTest, MissingSessionIsAFault) {
  int got = detail::guarded_session_call("helo", ctx_, nullptr,
                                         [&](MilterSession& s) { return s.on_helo(ctx_, "x"); });
  EXPECT_EQ(got, SMFIS_TEMPFAIL);
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_NE(lines_[0].find("no session"), std::string::npos) << "got " << lines_[0];
}

TEST_F(MilterGuardTest, NormalStatusPassesThroughWithoutLog) {
  int got = detail::guarded_session_call(
      "body", ctx_, &session_, [&](MilterSession& s) { return s.on_body(ctx_, "x"); }, true);
  EXPECT_EQ(got, SMFIS_SKIP);
  EXPECT_TRUE(lines_.empty());
}

TEST_F(MilterGuardTest, ContextWithoutConnection) {
  EXPECT_EQ(ctx_.macro("i"), std::nullopt);
  EXPECT_THROW(ctx_.add_header("X-Test", "1"), MilterError);
  int got = detail::guarded_call("eom", ctx_, [&] {
    ctx_.add_header("X-Test", "1");
    return MilterStatus::Continue;
  });
  EXPECT_EQ(got, SMFIS_TEMPFAIL);
}

TEST(MilterConnectInfo, Addresses) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(25000);
  inet_pton(AF_INET, "192.0.2.7", &in.sin_addr);
  ConnectInfo v4 = detail::connect_info("mx.example.com", reinterpret_cast<sockaddr*>(&in));
  EXPECT_EQ(v4.hostname, "mx.example.com");
  EXPECT_EQ(v4.client_address, "192.0.2.7");
  EXPECT_EQ(v4.client_port, 25000);

  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(587);
  inet_pton(AF_INET6, "2001:db8::25", &in6.sin6_addr);
  ConnectInfo v6 = detail::connect_info("[2001:db8::25]", reinterpret_cast<sockaddr*>(&in6));
  EXPECT_EQ(v6.client_address, "2001:db8::25");
  EXPECT_EQ(v6.client_port, 587);

  ConnectInfo local = detail::connect_info("localhost", nullptr);
  EXPECT_EQ(local.client_address, "");
  EXPECT_EQ(local.client_port, 0);
}

TEST(MilterNegotiate, Steps) {
  unsigned long postfix_offer = 0x1fffff;  // every step Postfix 3.x offers
  MilterServerConfig all;
  unsigned long got = detail::negotiate_steps(postfix_offer, all);
  unsigned long want = SMFIP_HDR_LEADSPC | SMFIP_SKIP | SMFIP_NOUNKNOWN | SMFIP_NODATA;
  EXPECT_EQ(got, want) << "got " << std::hex << got << ", want " << want;
  EXPECT_EQ(got & (SMFIP_NR_HDR | SMFIP_NR_BODY | SMFIP_NR_EOH), 0ul) << "replies by default";

  MilterServerConfig lean;
  lean.wants_body = false;
  lean.wants_helo = false;
  lean.wants_rcpt = false;
  lean.connect_replies = false;
  lean.mail_replies = false;
  lean.header_replies = false;
  lean.body_replies = false;
  got = detail::negotiate_steps(postfix_offer, lean);
  unsigned long want_lean = want | SMFIP_NOBODY | SMFIP_NOHELO | SMFIP_NORCPT | SMFIP_NR_CONN |
                            SMFIP_NR_MAIL | SMFIP_NR_HDR | SMFIP_NR_BODY;
  EXPECT_EQ(got, want_lean) << "got " << std::hex << got << ", want " << want_lean;
  EXPECT_EQ(detail::negotiate_steps(0, lean), 0ul) << "must never request what is not offered";
}

// A libmilter context as st_optionneg leaves it for xxfi_negotiate: the MTA's own offer in
// mta_pflags/mta_aflags, f1 = that offer plus every no-reply step libmilter can fake.
struct NegotiatingContext {
  detail::LibmilterContextHead head{};
  int marker = 0;
  unsigned long f0 = 0x1ff;
  unsigned long f1 = 0;
  NegotiatingContext(unsigned long mta_steps) {
    head.privdata = &marker;
    head.mta_prot_vers = 6;
    head.mta_aflags = f0;
    head.mta_pflags = mta_steps;
    f1 = mta_steps | SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_RCPT | SMFIP_NR_DATA |
         SMFIP_NR_UNKN | SMFIP_NR_HDR | SMFIP_NR_EOH | SMFIP_NR_BODY;
  }
  std::optional<unsigned long> offered() const {
    return detail::mta_offered_steps(&head, &marker, f0, f1);
  }
};

TEST(MilterNegotiate, NoReplyStepsOnlyWhenTheMtaOfferedThem) {
  MilterServerConfig lean;
  lean.connect_replies = false;
  lean.mail_replies = false;
  lean.header_replies = false;
  lean.body_replies = false;

  NegotiatingContext leadspc_only(SMFIP_HDR_LEADSPC);
  ASSERT_TRUE(leadspc_only.offered());
  EXPECT_EQ(*leadspc_only.offered(), static_cast<unsigned long>(SMFIP_HDR_LEADSPC));
  unsigned long got = detail::negotiate_steps(*leadspc_only.offered(), lean);
  EXPECT_EQ(got, static_cast<unsigned long>(SMFIP_HDR_LEADSPC)) << "got " << std::hex << got;
  // What the adapter used to do: take the steps from f1, where libmilter added them.
  EXPECT_NE(detail::negotiate_steps(leadspc_only.f1, lean) & SMFIP_NR_CONN, 0ul);

  NegotiatingContext postfix(0x1fffff);
  ASSERT_TRUE(postfix.offered());
  got = detail::negotiate_steps(*postfix.offered(), lean);
  unsigned long want_nr = SMFIP_NR_CONN | SMFIP_NR_MAIL | SMFIP_NR_HDR | SMFIP_NR_BODY;
  EXPECT_EQ(got & detail::kLibmilterNoReplySteps, want_nr) << "got " << std::hex << got;

  NegotiatingContext header_only(SMFIP_HDR_LEADSPC | SMFIP_NR_HDR);
  ASSERT_TRUE(header_only.offered());
  got = detail::negotiate_steps(*header_only.offered(), lean);
  EXPECT_EQ(got & detail::kLibmilterNoReplySteps, static_cast<unsigned long>(SMFIP_NR_HDR));
}

TEST(MilterNegotiate, ContextLayoutMustProveItself) {
  NegotiatingContext good(SMFIP_HDR_LEADSPC | SMFIP_SKIP);
  EXPECT_TRUE(good.offered());

  NegotiatingContext other_privdata = good;
  int elsewhere = 0;
  other_privdata.head.privdata = &elsewhere;
  EXPECT_FALSE(other_privdata.offered()) << "privdata not where the layout puts it";

  NegotiatingContext other_actions = good;
  other_actions.head.mta_aflags = 0x3f;
  EXPECT_FALSE(other_actions.offered()) << "MTA actions differ from f0";

  NegotiatingContext other_steps = good;
  other_steps.head.mta_pflags = SMFIP_HDR_LEADSPC;  // f1 also has SMFIP_SKIP
  EXPECT_FALSE(other_steps.offered()) << "MTA steps do not explain f1";

  NegotiatingContext old_version = good;
  old_version.head.mta_prot_vers = 1;
  EXPECT_FALSE(old_version.offered()) << "protocol version below 2";

  EXPECT_FALSE(detail::mta_offered_steps(nullptr, &good.marker, good.f0, good.f1));
  EXPECT_FALSE(detail::mta_offered_steps(&good.head, nullptr, good.f0, good.f1));
}

TEST(MilterHeaderValue, Spacing) {
  struct Case {
    std::string value;
    bool leadspc;
    std::string want;
  } cases[] = {
      {"v=1; a=rsa-sha256", true, " v=1; a=rsa-sha256"},
      {" v=1", true, " v=1"},
      {"\tv=1", true, "\tv=1"},
      {"v=1", false, "v=1"},
      {" v=1", false, "v=1"},
      {"", true, " "},
  };
  for (const auto& c : cases) {
    std::string got = detail::wire_header_value(c.value, c.leadspc);
    EXPECT_EQ(got, c.want) << "'" << c.value << "' leadspc=" << c.leadspc << ": got '" << got
                           << "', want '" << c.want << "'";
  }
}

}  // namespace
}  // namespace postern
