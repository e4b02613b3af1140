// carrierwatch's core job written in the Kafka Streams DSL, the way its docs teach it (one
// stream thread, persistent RocksDB stores with their changelogs, record caches and
// commit interval at their defaults). Per carrier (the message key), on final responses:
//
// - the consecutive-failure counter in arrival order (code >= 300 adds one, a 2xx resets
//   it), the final-code tallies and a live 24 h total (the 24 hours ending with the hour of
//   the carrier's newest ts): groupByKey().aggregate(...);
// - hour and day windows of attempts, answered, duration and PDD sums:
//   windowedBy(TimeWindows.ofSizeAndGrace(...)).aggregate(...), grace as long as
//   carrierwatch keeps them (7 and 92 days), on the event's ts (a TimestampExtractor);
// - calendar month windows: the same with a custom Windows (MonthWindows), as the Kafka
//   Streams docs suggest for windows of uneven length.
//
// Outputs go to the compacted topics <input>.kstreams-core-carriers (key: the carrier) and
// <input>.kstreams-core-windows (key: carrier|kind|start ms), in JSON; the launcher
// (tests/benchmarks/kstreams_core.py) creates them. The clock runs from the first message
// to the application closed after the last: caches flushed, outputs sent, offsets
// committed.
//
//   java -cp CLASSES:LIBS/* CorePeer BOOTSTRAP TOPIC EVENTS STATEDIR

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.kstream.Windows;
import org.apache.kafka.streams.kstream.internals.TimeWindow;
import org.apache.kafka.streams.processor.TimestampExtractor;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.WindowStore;

public final class CorePeer {
    static final long HOUR = 3_600_000L;
    static final long DAY = 24 * HOUR;
    static final ObjectMapper JSON = new ObjectMapper();

    static long events;
    static long seen;
    static long firstNanos;
    static KafkaStreams streams;

    /** A final response, as the aggregates read it. */
    public static final class Ev {
        public int code;
        public long ts;
        public long durationMs;
        public long pddMs;

        static Ev of(JsonNode doc) {
            Ev e = new Ev();
            e.code = doc.get("code").asInt();
            e.ts = NaivePeer.tsMs(doc.get("ts"));
            boolean answered = e.code >= 200 && e.code < 300;
            JsonNode d = doc.get("duration_ms");
            e.durationMs = answered && d != null && !d.isNull() ? d.asLong() : 0;
            JsonNode p = doc.get("pdd_ms");
            e.pddMs = p != null && !p.isNull() ? p.asLong() : 0;
            return e;
        }

        boolean answered() {
            return code >= 200 && code < 300;
        }
    }

    /** A window's four sums. */
    public static final class Sums {
        public long attempts;
        public long answered;
        public long durationMs;
        public long pddMs;

        Sums add(Ev e) {
            attempts++;
            answered += e.answered() ? 1 : 0;
            durationMs += e.durationMs;
            pddMs += e.pddMs;
            return this;
        }

        ObjectNode record() {
            ObjectNode n = JSON.createObjectNode();
            n.put("attempts", attempts).put("answered", answered).put("duration_ms", durationMs)
                    .put("pdd_ms", pddMs);
            return n;
        }
    }

    /** A carrier's streak, code tallies and live hours. */
    public static final class Carrier {
        public long streak;
        public Map<String, Long> codes = new TreeMap<>();
        public long newest = Long.MIN_VALUE;
        public Map<String, Sums> hours = new TreeMap<>();

        Carrier add(Ev e) {
            streak = e.code < 300 ? 0 : streak + 1;
            codes.merge(Integer.toString(e.code), 1L, Long::sum);
            newest = Math.max(newest, e.ts);
            long first = first();
            hours.keySet().removeIf(h -> Long.parseLong(h) < first);
            long hour = Math.floorDiv(e.ts, HOUR) * HOUR;
            if (hour >= first) {
                hours.computeIfAbsent(Long.toString(hour), h -> new Sums()).add(e);
            }
            return this;
        }

        long first() {
            return Math.floorDiv(newest, HOUR) * HOUR - 23 * HOUR;
        }

        ObjectNode record(String carrierId) {
            Sums live = new Sums();
            for (Sums s : hours.values()) {
                live.attempts += s.attempts;
                live.answered += s.answered;
                live.durationMs += s.durationMs;
                live.pddMs += s.pddMs;
            }
            ObjectNode n = JSON.createObjectNode();
            n.put("carrier_id", carrierId).put("consecutive_failures", streak);
            ObjectNode c = n.putObject("codes");
            codes.forEach(c::put);
            n.put("total_200", codes.getOrDefault("200", 0L));
            n.put("total_404", codes.getOrDefault("404", 0L));
            n.set("live", live.record().put("start", first()));
            return n;
        }
    }

    /** Calendar months: windows of uneven length, kept the current month and 24 before. */
    static final class MonthWindows extends Windows<TimeWindow> {
        @Override
        public Map<Long, TimeWindow> windowsFor(long ts) {
            ZonedDateTime d = Instant.ofEpochMilli(ts).atZone(ZoneOffset.UTC);
            ZonedDateTime start = d.withDayOfMonth(1).toLocalDate().atStartOfDay(ZoneOffset.UTC);
            long s = start.toInstant().toEpochMilli();
            return Map.of(s, new TimeWindow(s, start.plusMonths(1).toInstant().toEpochMilli()));
        }

        @Override
        public long size() {
            return 31 * DAY;
        }

        @Override
        public long gracePeriodMs() {
            return 24 * 31 * DAY;
        }
    }

    static <T> Serde<T> json(Class<T> type) {
        return Serdes.serdeFrom((topic, value) -> {
            try {
                return JSON.writeValueAsBytes(value);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }, (topic, bytes) -> {
            try {
                return bytes == null ? null : JSON.readValue(bytes, type);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    /** The event's own time, for the windows. */
    static final class EventTime implements TimestampExtractor {
        @Override
        public long extract(ConsumerRecord<Object, Object> record, long partitionTime) {
            return NaivePeer.tsMs(((JsonNode) record.value()).get("ts"));
        }
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String topic = args[1];
        events = Long.parseLong(args[2]);
        String stateDir = args[3];

        Properties props = NaivePeer.props("kstreams-core", bootstrap, stateDir);

        Serde<JsonNode> docs = json(JsonNode.class);
        Serde<Sums> sums = json(Sums.class);
        Serde<Carrier> carriers = json(Carrier.class);
        Produced<String, JsonNode> out = Produced.with(Serdes.String(), docs);
        String windowsTopic = topic + ".kstreams-core-windows";

        StreamsBuilder builder = new StreamsBuilder();
        KStream<String, Ev> finals = builder
                .stream(topic, Consumed.with(Serdes.String(), docs)
                        .withTimestampExtractor(new EventTime()))
                .peek((k, v) -> counted())
                .filter((k, doc) -> doc.get("code").asInt() >= 200)
                .mapValues(Ev::of);
        finals.groupByKey()
                .aggregate(Carrier::new, (cid, e, c) -> c.add(e),
                        Materialized.<String, Carrier, KeyValueStore<Bytes, byte[]>>as("carriers")
                                .withKeySerde(Serdes.String()).withValueSerde(carriers))
                .toStream()
                .mapValues((cid, c) -> (JsonNode) c.record(cid))
                .to(topic + ".kstreams-core-carriers", out);
        window(finals, "hour", TimeWindows.ofSizeAndGrace(Duration.ofMillis(HOUR),
                Duration.ofDays(7)), sums, windowsTopic, out);
        window(finals, "day", TimeWindows.ofSizeAndGrace(Duration.ofMillis(DAY),
                Duration.ofDays(92)), sums, windowsTopic, out);
        window(finals, "month", new MonthWindows(), sums, windowsTopic, out);

        streams = new KafkaStreams(builder.build(), props);
        streams.start();
        Thread.currentThread().join();
    }

    static void window(KStream<String, Ev> finals, String kind, Windows<TimeWindow> windows,
                       Serde<Sums> sums, String windowsTopic, Produced<String, JsonNode> out) {
        finals.groupByKey()
                .windowedBy(windows)
                .aggregate(Sums::new, (cid, e, s) -> s.add(e),
                        Materialized.<String, Sums, WindowStore<Bytes, byte[]>>as(kind)
                                .withKeySerde(Serdes.String()).withValueSerde(sums))
                .toStream()
                .map((Windowed<String> w, Sums s) -> KeyValue.pair(
                        w.key() + "|" + kind + "|" + w.window().start(), (JsonNode) s.record()))
                .to(windowsTopic, out);
    }

    static void counted() {
        if (seen == 0) {
            firstNanos = System.nanoTime();
        }
        seen++;
        if (seen == events) {
            // Closing from the stream thread would wait for itself: another thread closes,
            // which flushes the caches, sends their records and commits.
            new Thread(CorePeer::finish).start();
        }
    }

    static void finish() {
        try {
            streams.close(Duration.ofMinutes(2));
            NaivePeer.emit("kstreams-core", events, (System.nanoTime() - firstNanos) / 1e9);
        } catch (Exception e) {
            e.printStackTrace();
            Runtime.getRuntime().halt(1);
        }
        Runtime.getRuntime().halt(0);
    }
}
