// chatctl: the admin CLI over the chat service's ChatAdmin API.
//
//   chatctl [--chat=host:port] upsert-user <id> <name> [image]
//   chatctl create-server <id> <name> [owner]
//   chatctl create-channel <server> <id> <name>
//   chatctl add-member <server> <user>
//   chatctl set-role <server> <user> owner|moderator|member
//   chatctl remove-member|ban|unban <server> <user>
//   chatctl slow-mode <server> <channel> <seconds>   (0 turns it off)
//   chatctl get-user <id>
//   chatctl wait-ready [seconds]      (exit 0 once the service answers)
#include <grpcpp/create_channel.h>

#include <chrono>
#include <iostream>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "common/config.h"
#include "common/grpc_tls_flags.h"
#include "common/json.h"
#include "proto/chat.grpc.pb.h"

ABSL_FLAG(std::string, chat, chat::EnvOr("CHAT_SERVICE", "127.0.0.1:50051"),
          "chat service host:port (env CHAT_SERVICE)");

namespace {

int Print(const grpc::Status& status, const google::protobuf::Message& out) {
  if (!status.ok()) {
    std::cerr << "error: " << status.error_code() << " " << status.error_message() << "\n";
    return 1;
  }
  std::cout << chat::ToJson(out) << "\n";
  return 0;
}

int Usage() {
  std::cerr << "usage: chatctl [--chat=host:port] upsert-user|get-user|create-server|"
               "create-channel|add-member|set-role|remove-member|ban|unban|slow-mode|"
               "wait-ready ARGS...\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2) return Usage();
  if (absl::Status s = chat::CheckGrpcClientTls(chat::GrpcTlsFromFlags()); !s.ok()) {
    std::cerr << "error: " << s.message() << "\n";
    return 2;
  }
  auto channel = grpc::CreateChannel(absl::GetFlag(FLAGS_chat),
                                     chat::GrpcChannelCredentials(chat::GrpcTlsFromFlags()));
  auto admin = chat::ChatAdmin::NewStub(channel);
  const std::string cmd = args[1];
  auto arg = [&](size_t i) { return i < args.size() ? std::string(args[i]) : std::string(); };
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  if (cmd == "upsert-user" && args.size() >= 4) {
    chat::User u, out;
    u.set_id(arg(2));
    u.set_name(arg(3));
    u.set_image(arg(4));
    return Print(admin->UpsertUser(&ctx, u, &out), out);
  }
  if (cmd == "get-user" && args.size() == 3) {
    chat::GetUserRequest r;
    chat::User out;
    r.set_id(arg(2));
    return Print(admin->GetUser(&ctx, r, &out), out);
  }
  if (cmd == "create-server" && (args.size() == 4 || args.size() == 5)) {
    chat::CreateServerRequest r;
    chat::Server out;
    r.set_id(arg(2));
    r.set_name(arg(3));
    r.set_owner(arg(4));
    return Print(admin->CreateServer(&ctx, r, &out), out);
  }
  if (cmd == "create-channel" && args.size() == 5) {
    chat::CreateChannelRequest r;
    chat::Channel out;
    r.set_server(arg(2));
    r.set_id(arg(3));
    r.set_name(arg(4));
    return Print(admin->CreateChannel(&ctx, r, &out), out);
  }
  if (cmd == "add-member" && args.size() == 4) {
    chat::AddMemberRequest r;
    chat::AddMemberResponse out;
    r.set_server(arg(2));
    r.set_user_id(arg(3));
    return Print(admin->AddMember(&ctx, r, &out), out);
  }
  if (cmd == "set-role" && args.size() == 5) {
    chat::SetRoleRequest r;
    chat::SetRoleResponse out;
    r.set_server(arg(2));
    r.set_user_id(arg(3));
    r.set_role(arg(4));
    return Print(admin->SetRole(&ctx, r, &out), out);
  }
  if ((cmd == "remove-member" || cmd == "ban" || cmd == "unban") && args.size() == 4) {
    chat::ModerateRequest r;
    chat::ModerateResponse out;
    r.set_server(arg(2));
    r.set_user_id(arg(3));
    r.set_action(cmd == "remove-member" ? "remove" : cmd);
    return Print(admin->Moderate(&ctx, r, &out), out);
  }
  if (cmd == "slow-mode" && args.size() == 5) {
    chat::SlowModeRequest r;
    chat::SlowModeResponse out;
    int seconds = 0;
    if (!absl::SimpleAtoi(arg(4), &seconds)) return Usage();
    r.set_server(arg(2));
    r.set_channel(arg(3));
    r.set_seconds(seconds);
    return Print(admin->SetSlowMode(&ctx, r, &out), out);
  }
  if (cmd == "wait-ready") {
    int seconds = 30;
    if (args.size() >= 3 && !absl::SimpleAtoi(arg(2), &seconds)) return Usage();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      grpc::ClientContext c;
      c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
      chat::GetUserRequest r;
      chat::User out;
      r.set_id("readiness-probe");
      grpc::Status s = admin->GetUser(&c, r, &out);
      // NOT_FOUND means the service and its Redis both answered.
      if (s.ok() || s.error_code() == grpc::StatusCode::NOT_FOUND) return 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    std::cerr << "chat service not ready\n";
    return 1;
  }
  return Usage();
}
