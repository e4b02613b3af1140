// The benchmark's JVM peer: the naive aggregation of tests/benchmarks/quix_peer.py on Kafka
// Streams (one stream thread, a persistent RocksDB store with its changelog, the defaults
// otherwise). Per final response, in one key-value store: the carrier's consecutive-failure
// counter, its code tallies and its daily counts.
//
//   java -cp CLASSES:LIBS/* NaivePeer BOOTSTRAP TOPIC EVENTS STATEDIR [--dump FILE]
//
// Prints one result line as tests/benchmarks/common.py's emit() does, then exits.

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.UUID;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;

public final class NaivePeer {
    static final String STORE = "counts";
    static final long DAY_MS = 86_400_000L;
    static final ObjectMapper JSON = new ObjectMapper();

    static long events;
    static String dump;
    static long seen;
    static long firstNanos;
    static final Map<String, Map<String, Long>> MIRROR = new TreeMap<>();

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String topic = args[1];
        events = Long.parseLong(args[2]);
        String stateDir = args[3];
        dump = args.length > 5 && args[4].equals("--dump") ? args[5] : null;
        for (String part : new String[] {"consecutive", "codes", "daily"}) {
            MIRROR.put(part, new TreeMap<>());
        }

        Properties props = props("kstreams", bootstrap, stateDir);
        StreamsBuilder builder = new StreamsBuilder();
        builder.addStateStore(Stores.keyValueStoreBuilder(
                Stores.persistentKeyValueStore(STORE), Serdes.String(), Serdes.Long()));
        builder.stream(topic, Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()))
                .process(Count::new, STORE);
        KafkaStreams streams = new KafkaStreams(builder.build(), props);
        streams.start();
        Thread.currentThread().join();
    }

    /** What both peers run with: a fresh application id, one stream thread, from the start. */
    static Properties props(String name, String bootstrap, String stateDir) {
        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, name + "-" + UUID.randomUUID());
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
        props.put("auto.offset.reset", "earliest");
        return props;
    }

    /** The result line, as tests/benchmarks/common.py's emit() prints it. */
    static void emit(String name, long events, double seconds) throws Exception {
        String line = String.format(Locale.ROOT,
                "{\"name\": \"%s\", \"events\": %d, \"seconds\": %.3f, "
                        + "\"events_per_s\": %d, \"peak_rss_mib\": %.1f}",
                name, events, seconds, Math.round(events / seconds), peakRssMib());
        System.out.print("\n" + line + "\n");
        System.out.flush();
    }

    static long tsMs(JsonNode ts) {
        if (ts.isIntegralNumber()) {
            return ts.asLong();
        }
        return OffsetDateTime.parse(ts.asText()).toInstant().toEpochMilli();
    }

    static final class Count implements Processor<byte[], byte[], Void, Void> {
        private KeyValueStore<String, Long> store;

        @Override
        public void init(ProcessorContext<Void, Void> context) {
            store = context.getStateStore(STORE);
        }

        private long bump(String key, long value) {
            store.put(key, value);
            return value;
        }

        @Override
        public void process(Record<byte[], byte[]> record) {
            if (seen == 0) {
                firstNanos = System.nanoTime();
            }
            seen++;
            String cid = null;
            int code = 0;
            long day = 0;
            try {
                JsonNode doc = JSON.readTree(record.value());
                JsonNode codeNode = doc.get("code");
                cid = doc.get("carrier_id").asText();
                code = codeNode.isInt() ? codeNode.asInt() : 0;
                day = Math.floorDiv(tsMs(doc.get("ts")), DAY_MS);
            } catch (Exception bad) {  // not JSON, a field missing or mistyped
                cid = null;
            }
            if (cid != null && code >= 200 && code < 700) {
                Long before = store.get("c|" + cid);
                long streak = bump("c|" + cid, code < 300 ? 0 : (before == null ? 0 : before) + 1);
                Long t = store.get("t|" + cid + "|" + code);
                long tally = bump("t|" + cid + "|" + code, (t == null ? 0 : t) + 1);
                Long d = store.get("d|" + cid + "|" + day);
                long daily = bump("d|" + cid + "|" + day, (d == null ? 0 : d) + 1);
                if (dump != null) {
                    String when = Instant.ofEpochMilli(day * DAY_MS).atOffset(ZoneOffset.UTC)
                            .toLocalDate().toString();
                    MIRROR.get("consecutive").put(cid, streak);
                    MIRROR.get("codes").put(cid + "|" + code, tally);
                    MIRROR.get("daily").put(cid + "|" + when, daily);
                }
            }
            if (seen == events) {
                finish();
            }
        }
    }

    static void finish() {
        double seconds = (System.nanoTime() - firstNanos) / 1e9;
        try {
            if (dump != null) {
                JSON.writeValue(new File(dump), MIRROR);
            }
            emit("kstreams", events, seconds);
        } catch (Exception e) {
            e.printStackTrace();
            Runtime.getRuntime().halt(1);
        }
        Runtime.getRuntime().halt(0);  // like the other peers: stop at once, no clean close
    }

    static double peakRssMib() throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmHWM:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
            }
        }
        return 0.0;
    }
}
