// Unit tests of InviteCore's decisions against a fake store and membership.
#include "invite_service/invite_core.h"

#include <gtest/gtest.h>

#include "common/status.h"

namespace chat::invite_service {
namespace {

class FakeStore : public InviteStore {
 public:
  bool friends = false;
  bool inviter_member = true, invited_member = false;
  absl::Status apply_status = absl::OkStatus();
  bool apply_changed = true;
  std::vector<Invitation> created, published;
  std::vector<std::pair<std::string, std::string>> friendships;
  Transition last_transition = Transition::kCancel;

  void GetUser(const std::string& id, Done<User> done) override {
    if (id == "ghost") return done(absl::NotFoundError("no"));
    User u;
    u.set_id(id);
    u.set_name("N-" + id);
    done(u);
  }
  void GetServerName(const std::string& id, Done<std::string> done) override {
    if (id != "demo") return done(absl::NotFoundError("no"));
    done(std::string("Demo"));
  }
  void IsFriend(const std::string&, const std::string&, Done<bool> done) override { done(friends); }
  void IsMember(const std::string&, const std::string& user, Done<bool> done) override {
    done(user == "alice" ? inviter_member : invited_member);
  }
  void Create(const Invitation& inv, const CreateLimits&, Done<Invitation> done) override {
    created.push_back(inv);
    done(inv);
  }
  void Apply(Transition t, const std::string& actor, const std::string& inviting,
             const std::string& invited, const std::string& server, int64_t, absl::Duration,
             Done<TransitionResult> done) override {
    last_transition = t;
    if (!apply_status.ok()) return done(apply_status);
    TransitionResult r;
    r.invitation.set_inviting(inviting);
    r.invitation.set_invited(invited);
    r.invitation.set_server(server);
    r.invitation.set_state(t == Transition::kAccept ? "accepted" : "cancelled");
    r.changed = apply_changed;
    r.effect_applied = effect_applied;
    done(r);
  }
  bool effect_applied = false;
  int marked = 0;
  void MarkEffectApplied(const Invitation&, Done<bool> done) override {
    ++marked;
    done(true);
  }
  void AddFriends(const std::string& a, const std::string& b, Done<bool> done) override {
    friendships.emplace_back(a, b);
    done(true);
  }
  void Publish(const Invitation& e, Done<bool> done) override {
    published.push_back(e);
    done(true);
  }
  void ListPending(const std::string&, int64_t, Done<std::vector<Invitation>> done) override {
    done(std::vector<Invitation>{});
  }
  void ListFriends(const std::string&, Done<std::vector<User>> done) override {
    done(std::vector<User>{});
  }
  void ExpireDue(int64_t, Done<std::vector<Invitation>> done) override {
    done(std::vector<Invitation>{});
  }
};

class FakeMembership : public Membership {
 public:
  std::vector<std::pair<std::string, std::string>> added;
  absl::Status status = absl::OkStatus();
  void AddMember(const std::string& server, const std::string& user, Done<bool> done) override {
    if (!status.ok()) return done(status);
    added.emplace_back(server, user);
    done(true);
  }
};

class InviteCoreTest : public ::testing::Test {
 protected:
  absl::StatusOr<InvitationResponse> Invite(const std::string& invited,
                                            const std::string& server = "") {
    InviteRequest r;
    r.mutable_inviter()->set_id("alice");
    r.mutable_inviter()->set_name("Alice");
    r.set_invited(invited);
    r.set_server(server);
    absl::StatusOr<InvitationResponse> out = absl::UnknownError("not called");
    core_.Invite(r, [&](absl::StatusOr<InvitationResponse> x) { out = std::move(x); });
    return out;
  }
  absl::StatusOr<InvitationResponse> Accept(const std::string& server = "") {
    TransitionRequest r;
    r.mutable_actor()->set_id("bob");
    r.set_inviting("alice");
    r.set_invited("bob");
    r.set_server(server);
    absl::StatusOr<InvitationResponse> out = absl::UnknownError("not called");
    core_.Accept(r, [&](absl::StatusOr<InvitationResponse> x) { out = std::move(x); });
    return out;
  }

  FakeStore store_;
  FakeMembership membership_;
  InviteCore core_{&store_, &membership_, InviteCoreOptions{}};
};

TEST_F(InviteCoreTest, InviteFillsBothPartiesAndPublishes) {
  auto r = Invite("bob");
  ASSERT_TRUE(r.ok()) << r.status();
  const Invitation& inv = r->invitation();
  EXPECT_EQ(inv.type(), "invitation");
  EXPECT_EQ(inv.state(), "pending");
  EXPECT_EQ(inv.inviting_name(), "Alice");
  EXPECT_EQ(inv.invited_name(), "N-bob");
  EXPECT_EQ(inv.id().substr(0, 4), "inv_");
  ASSERT_EQ(store_.published.size(), 1u);
}

TEST_F(InviteCoreTest, RejectionsCarryReasonsAndChangeNothing) {
  EXPECT_EQ(ReasonOf(Invite("alice").status()), "cannot_invite_self");
  EXPECT_EQ(ReasonOf(Invite("ghost").status()), "unknown_user");
  // A missing server answers as one the inviter is not in.
  EXPECT_EQ(ReasonOf(Invite("bob", "nowhere").status()), "not_member");
  store_.friends = true;
  EXPECT_EQ(ReasonOf(Invite("bob").status()), "already_friends");
  store_.invited_member = true;
  EXPECT_EQ(ReasonOf(Invite("bob", "demo").status()), "already_member");
  store_.inviter_member = false;
  EXPECT_EQ(ReasonOf(Invite("bob", "demo").status()), "not_member");
  EXPECT_EQ(Invite("a:b").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(store_.created.empty());
  EXPECT_TRUE(store_.published.empty());
}

TEST_F(InviteCoreTest, AcceptAppliesTheRightEffect) {
  ASSERT_TRUE(Accept().ok());
  ASSERT_EQ(store_.friendships.size(), 1u);
  EXPECT_TRUE(membership_.added.empty());
  ASSERT_TRUE(Accept("demo").ok());
  ASSERT_EQ(membership_.added.size(), 1u);
  EXPECT_EQ(membership_.added[0], std::make_pair(std::string("demo"), std::string("bob")));
  EXPECT_EQ(store_.published.size(), 2u);
  EXPECT_EQ(store_.published[1].type(), "accept_invitation");
}

TEST_F(InviteCoreTest, AnUnchangedAcceptReappliesButDoesNotAnnounce) {
  store_.apply_changed = false;
  store_.effect_applied = true;
  auto r = Accept();
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->changed());
  EXPECT_EQ(store_.friendships.size(), 1u);
  EXPECT_TRUE(store_.published.empty());
}

TEST_F(InviteCoreTest, AFailedEffectAsksForARetryWhichAnnouncesOnce) {
  membership_.status = absl::UnavailableError("chat down");
  auto r = Accept("demo");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(store_.published.empty());
  // The retry finds the invitation accepted (unchanged) but the effect not
  // done: it completes it and announces the acceptance now.
  membership_.status = absl::OkStatus();
  store_.apply_changed = false;
  r = Accept("demo");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->changed());
  ASSERT_EQ(store_.published.size(), 1u);
  EXPECT_EQ(store_.published[0].type(), "accept_invitation");
  EXPECT_EQ(store_.marked, 1);
}

TEST_F(InviteCoreTest, StrangersCannotCancel) {
  TransitionRequest r;
  r.mutable_actor()->set_id("mallory");
  r.set_inviting("alice");
  r.set_invited("bob");
  absl::StatusOr<InvitationResponse> out = absl::UnknownError("");
  core_.Cancel(r, [&](absl::StatusOr<InvitationResponse> x) { out = std::move(x); });
  EXPECT_EQ(ReasonOf(out.status()), "not_found");
}

}  // namespace
}  // namespace chat::invite_service
