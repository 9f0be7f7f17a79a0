// notify_server: live notifications by topic. A subscriber sends "sub TOPIC"
// and from then on receives each event published on TOPIC as "TOPIC TEXT".
// A publisher sends "pub TOPIC TEXT" lines; each is answered "ok N": the
// event was queued for N subscribers.
//
// Slow subscribers: each has a queue of --queue events (default 64) that
// publishing fills without ever waiting. While a subscriber's queue is full,
// its new events are dropped and counted; the next event it does get is
// preceded by "* missed N events". A publisher is never slowed down by it.
//
// Run:   build/examples/notify_server [--port 65432] [--queue 64]
// Then:  nc 127.0.0.1 65432   and type   sub news         (a subscriber)
//        nc 127.0.0.1 65432   and type   pub news hello   (a publisher)
#include "server.hpp"
#include <coronet/net/stream_reader.hpp>
#include <coronet/net/stream_writer.hpp>
#include <coronet/runtime/sync/broadcast.hpp>

#include <algorithm>
#include <functional>
#include <map>

using namespace coronet;
using namespace std::chrono_literals;
using example::say, example::trim;
using reader = stream_reader<tcp_stream>;
using writer = stream_writer<tcp_stream>;

constexpr std::size_t max_line = 1000; // bytes, with the '\n'

struct hub {
    std::size_t queue;
    std::map<std::string, broadcast<std::string>, std::less<>> topics; // made by "sub"
};

task<> ignore_input(reader& in) { // a subscriber's further lines, until EOF
    for (;;) {
        auto line = co_await in.read_line(max_line);
        if (!line) co_return;
    }
}

task<> send_events(writer& out, subscription<std::string>& me) {
    for (;;) {
        auto event = co_await me.receive();
        std::string text; // (no ?: inside a co_await: g++ 12 destroys its temporaries twice)
        if (me.missed() > 0) text = fmt::format("* missed {} events\n", me.missed());
        if (event) text += *event;
        auto sent = co_await out.write(text);
        if (sent && me.queued() == 0) sent = co_await out.flush(); // caught up: send the batch
        if (!sent || !event) co_return; // the subscriber is gone, or the topic closed
    }
}

task<> subscribe(reader& in, writer& out, hub& h, std::string topic) {
    auto& events = h.topics.try_emplace(topic, h.queue, overflow::drop).first->second;
    {
        subscription<std::string> me(events);
        co_await say(out, fmt::format("* subscribed to {}\n", topic));
        co_await when_any(ignore_input(in), send_events(out, me));
    }
    if (events.size() == 0) h.topics.erase(topic); // that was its last subscriber
}

std::string_view next_word(std::string_view& s) { // takes "pub" from "pub news hi"
    auto word = s.substr(0, s.find(' '));
    s.remove_prefix(std::min(s.size(), word.size() + 1));
    return word;
}

task<> session(tcp_stream conn, hub& h) {
    reader in(conn, max_line);
    writer out(conn, 4 * max_line);
    for (;;) {
        auto line = co_await in.read_line(max_line);
        if (!line) co_return; // EOF, error or a line too long: the connection ends
        std::string_view text = trim(*line);
        auto verb = next_word(text), topic = next_word(text); // and `text` is the rest
        if (verb == "sub" && !topic.empty() && text.empty())
            co_return co_await subscribe(in, out, h, std::string(topic));
        if (verb != "pub" || topic.empty() || text.empty()) {
            co_await say(out, "* expected 'sub TOPIC' or 'pub TOPIC TEXT'\n");
            continue;
        }
        auto t = h.topics.find(topic);
        auto n = t == h.topics.end() ? 0 : t->second.publish(fmt::format("{} {}\n", topic, text));
        auto sent = co_await say(out, fmt::format("ok {}\n", n));
        if (!sent) co_return;
        co_await sleep_for(0ms); // one event per turn, so that the subscribers' writers keep up
    }
}

int main(int argc, char** argv) {
    const char* usage =
        "usage: notify_server [--host ADDR|NAME] [--port N] [--queue N] [--grace MS]\n"
        "                     [--backend auto|io_uring|epoll] [--fast-paths on|off]\n"
        "Live notifications on ADDR:N (default 127.0.0.1:65432; 0: any free port):\n"
        "'sub TOPIC' subscribes, 'pub TOPIC TEXT' publishes. Each subscriber's queue\n"
        "holds N events (default 64); past that its events are dropped and counted.\n"
        "On SIGINT/SIGTERM, subscribers get MS ms (default 5000) to take what is queued.\n";
    auto opts = example::parse(argc, argv, usage, false, example::queue);
    hub h{opts.queue, {}};
    auto stop = [&h] {
        for (auto& [name, events] : h.topics)
            events.close(); // queued events still go out
    };
    auto main = example::serve_until_signal(
        "notify_server", opts, [&h](tcp_stream c) { return session(std::move(c), h); }, stop);
    return example::run(std::move(main), opts, "notify_server");
}
