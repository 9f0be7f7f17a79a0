// chat_server: a chat room. A client's first line is its name (1-20 letters,
// digits, - or _; a name in use is refused and asked for again); each later
// line goes to the others as "NAME: line"; "* NAME joined/left" announce them.
//
// Slow clients: each has an outgoing queue of --queue lines (default 64) that
// the room fills without waiting. A client whose queue is full is cut off: it
// gets the rest of the line in flight and "* disconnected: too slow (N lines
// behind)" if it takes them within 5 s, then it is closed and the others see
// "* NAME left: too slow ...". A line over 1000 bytes ends a connection the
// same way ("line too long").
//
// Run:   build/examples/chat_server [--port 65432] [--queue 64]
// Then:  nc 127.0.0.1 65432   in two or more terminals (type a name, then chat)
#include "server.hpp"
#include <coronet/net/stream_reader.hpp>
#include <coronet/net/stream_writer.hpp>
#include <coronet/runtime/sync/broadcast.hpp>

#include <fmt/ranges.h>
#include <set>

using namespace coronet;
using example::say, example::trim;
using namespace std::chrono_literals;
using reader = stream_reader<tcp_stream>;
using writer = stream_writer<tcp_stream>;

constexpr std::size_t max_line = 1000; // bytes, with the '\n'

struct room {
    broadcast<std::string> lines;
    std::set<std::string> names;
};

bool valid_name(std::string_view n) {
    constexpr std::string_view letters =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
    return !n.empty() && n.size() <= 20 && n.find_first_not_of(letters) == n.npos;
}

task<std::string> ask_name(reader& in, writer& out, const room& r) { // "": the client left
    co_await say(out, "* welcome! your name?\n");
    for (;;) {
        auto line = co_await in.read_line(max_line);
        if (!line) co_return "";
        std::string name(trim(*line));
        if (valid_name(name) && !r.names.contains(name)) co_return name;
        std::string ask = valid_name(name) ? "* " + name + " is taken; your name?\n"
                                           : "* 1-20 letters, digits, - or _; your name?\n";
        co_await say(out, ask); // (g++ 12 mishandles ?: temporaries inside a co_await)
    }
}

task<std::string> read_lines(reader& in, const std::string& name, room& r,
                             const subscription<std::string>& me) { // returns why it stopped
    for (;;) {
        auto line = co_await in.read_line(max_line);
        if (!line) co_return line.error() == error::line_too_long ? "line too long" : "";
        r.lines.publish(fmt::format("{}: {}\n", name, trim(*line)), &me);
        co_await sleep_for(0ms); // one line per turn, so that the others' writers keep up
    }
}

task<> write_lines(writer& out, subscription<std::string>& me) {
    for (;;) {
        auto line = co_await me.receive();
        if (!line) co_return;                  // the room closed, or we were cut off
        auto sent = co_await out.write(*line); // buffered: sent when the buffer is full
        if (sent && me.queued() == 0) sent = co_await out.flush(); // caught up: send the batch
        if (!sent) co_return;                                      // the client is gone
    }
}

task<> until_cut_off(subscription<std::string>& me) {
    [[maybe_unused]] auto cancelled = co_await me.cut_off();
}

task<> session(tcp_stream conn, room& r) {
    reader in(conn, max_line);
    writer out(conn, 4 * max_line);
    std::string name = co_await ask_name(in, out, r);
    if (name.empty()) co_return;
    std::string hi = fmt::format("* hi {}; here: {}\n", name, fmt::join(r.names, ", "));
    r.names.insert(name); // before the next co_await: nobody else can take the name now
    subscription<std::string> me(r.lines); // and what others say from now on reaches us
    co_await say(out, hi);
    r.lines.publish(fmt::format("* {} joined\n", name), &me);
    auto end =
        co_await when_any(read_lines(in, name, r, me), write_lines(out, me), until_cut_off(me));
    std::string why = std::get<0>(end.results).value_or("");
    if (me.overflowed()) why = fmt::format("too slow ({} lines behind)", r.lines.queue_capacity());
    if (!why.empty()) {
        fmt::print("{} disconnected: {}\n", name, why);
        [[maybe_unused]] auto said =
            co_await with_timeout(5s, say(out, fmt::format("* disconnected: {}\n", why)));
    }
    r.names.erase(name);
    r.lines.publish(fmt::format("* {} left{}\n", name, why.empty() ? "" : ": " + why), &me);
}

int main(int argc, char** argv) {
    const char* usage =
        "usage: chat_server [--host ADDR|NAME] [--port N] [--queue N] [--grace MS]\n"
        "                   [--backend auto|io_uring|epoll] [--fast-paths on|off]\n"
        "A chat room on ADDR:N (default 127.0.0.1:65432; 0: any free port). Each client's\n"
        "queue holds N lines (default 64): a client N lines behind is disconnected.\n"
        "On SIGINT/SIGTERM, clients get MS ms (default 5000) to take what is queued.\n";
    auto opts = example::parse(argc, argv, usage, false, example::queue);
    room r{broadcast<std::string>(opts.queue, overflow::disconnect), {}};
    auto stop = [&r] {
        r.lines.publish("* server shutting down\n");
        r.lines.close(); // each client gets what is queued for it, then is closed
    };
    auto main = example::serve_until_signal(
        "chat_server", opts, [&r](tcp_stream c) { return session(std::move(c), r); }, stop);
    return example::run(std::move(main), opts, "chat_server");
}
