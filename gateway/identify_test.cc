#include "gateway/identify.h"

#include <gtest/gtest.h>

namespace chat::gateway {
namespace {

UserState OneChannel(int64_t head) {
  UserState state;
  Server* s = state.add_servers();
  s->set_id("demo");
  Channel* c = s->add_channels();
  c->set_id("general");
  c->set_head_seq(head);
  c->set_unread(head);
  return state;
}

TEST(IdentifyTest, ReadyCarriesWhatIdentificationGathered) {
  IdentifyData data;
  data.friends.add_friends()->set_id("bob");
  data.invitations.add_invitations()->set_inviting("carol");
  data.presences.add_presences()->set_user_id("bob");
  User me;
  me.set_id("alice");
  ServerFrame frame =
      BuildReady("sess", me, OneChannel(5), data, ReadySettings{absl::Seconds(15), 16384, 2000});
  const Ready& r = frame.ready();
  EXPECT_EQ(r.type(), "ready");
  EXPECT_EQ(r.session_id(), "sess");
  EXPECT_EQ(r.user().id(), "alice");
  ASSERT_EQ(r.servers_size(), 1);
  EXPECT_EQ(r.servers(0).channels(0).head_seq(), 5);
  EXPECT_EQ(r.friends(0).id(), "bob");
  EXPECT_EQ(r.invitations(0).inviting(), "carol");
  EXPECT_EQ(r.presences(0).user_id(), "bob");
  EXPECT_EQ(r.heartbeat_interval_ms(), 15000);
  EXPECT_EQ(r.max_frame_bytes(), 16384);
  EXPECT_EQ(r.max_message_chars(), 2000);
}

TEST(IdentifyTest, HeadsOnlyRise) {
  IdentifyData data;
  ServerFrame frame = BuildReady("s", User(), OneChannel(5), data, ReadySettings{});
  RaiseHeads(OneChannel(8), frame.mutable_ready());
  const Channel& c = frame.ready().servers(0).channels(0);
  EXPECT_EQ(c.head_seq(), 8);
  EXPECT_EQ(c.unread(), 8);  // The three that came in between count as unread.
  RaiseHeads(OneChannel(6), frame.mutable_ready());
  EXPECT_EQ(frame.ready().servers(0).channels(0).head_seq(), 8);
  RaiseHeads(UserState(), frame.mutable_ready());  // A channel it no longer lists: kept.
  EXPECT_EQ(frame.ready().servers(0).channels(0).head_seq(), 8);
}

// A later full state brings its own counts: two of the three seqs that came
// in between were an edit and a delete, which are not unread.
TEST(IdentifyTest, AFullLaterStateBringsItsOwnCounts) {
  IdentifyData data;
  UserState first = OneChannel(5);
  first.mutable_servers(0)->set_unread(5);
  ServerFrame frame = BuildReady("s", User(), first, data, ReadySettings{});
  UserState later = OneChannel(8);
  Channel* c = later.mutable_servers(0)->mutable_channels(0);
  c->set_unread(6);
  c->set_mentions(1);
  later.mutable_servers(0)->set_unread(6);
  later.mutable_servers(0)->set_mentions(1);
  RaiseHeads(later, frame.mutable_ready(), RaisedCounts::kLaterCounts);
  const Server& s = frame.ready().servers(0);
  EXPECT_EQ(s.channels(0).head_seq(), 8);
  EXPECT_EQ(s.channels(0).unread(), 6);
  EXPECT_EQ(s.channels(0).mentions(), 1);
  EXPECT_EQ(s.unread(), 6);
  EXPECT_EQ(s.mentions(), 1);
}

}  // namespace
}  // namespace chat::gateway
