// A small stand-in for Jason's GrpcBridgeEnvironment: the same generated classes, a blocking stub
// on a plaintext channel with no deadline and no retry, and the same server_action(...) text.
// Usage: java BridgeClient <host:port> <agent> <command>...
//   agent:<name>        the agent name of the commands that follow
//   request:<context>   RequestAction  -> prints "ACTION server_action(...)"
//   push:<payload>      PushPercept    -> prints "ACK <ok> <detail>"
//   stream:<context>    StreamActions  -> prints "STREAM server_action(...)" per item, then "END"
// An RPC error prints "RPC_ERROR <code>" (the real environment only logs it).
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.StatusRuntimeException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.jason.grpc.proto.Ack;
import org.jason.grpc.proto.ActionRequest;
import org.jason.grpc.proto.ActionResponse;
import org.jason.grpc.proto.ActionStatus;
import org.jason.grpc.proto.AgentBridgeGrpc;
import org.jason.grpc.proto.Percept;

public final class BridgeClient {
    private BridgeClient() {}

    static String escape(String text) {
        return text.replace("\r", " ").replace("\n", " ").replace("\\", "\\\\").replace("\"", "\\\"");
    }

    /** The percept the Java environment adds for a RequestAction reply. */
    static String serverAction(ActionResponse reply) {
        String meta;
        if (reply.getMetaCount() > 0) {
            meta = reply.getMetaList().stream()
                    .map(e -> e.getKey() + "=" + e.getValue())
                    .collect(Collectors.joining(";"));
        } else {
            meta = reply.getMetadata();
        }
        if (reply.getStatus() == ActionStatus.ACTION_STATUS_ERROR) {
            meta += ";status=error;detail=" + reply.getErrorDetail();
        } else if (reply.getStatus() == ActionStatus.ACTION_STATUS_PARTIAL) {
            meta += ";status=partial";
        }
        return "server_action(\"" + escape(reply.getAction()) + "\", \"" + escape(meta) + "\")";
    }

    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        ManagedChannel channel = ManagedChannelBuilder.forTarget(args[0]).usePlaintext().build();
        try {
            AgentBridgeGrpc.AgentBridgeBlockingStub stub = AgentBridgeGrpc.newBlockingStub(channel);
            String agent = args[1];
            for (int i = 2; i < args.length; i++) {
                String command = args[i];
                int colon = command.indexOf(':');
                String verb = command.substring(0, colon);
                String value = command.substring(colon + 1);
                try {
                    switch (verb) {
                        case "agent":
                            agent = value;
                            break;
                        case "request": {
                            ActionResponse reply = stub.requestAction(
                                    ActionRequest.newBuilder().setAgent(agent).setContext(value).build());
                            out.println("ACTION " + serverAction(reply));
                            break;
                        }
                        case "push": {
                            Ack ack = stub.pushPercept(
                                    Percept.newBuilder().setAgent(agent).setPayload(value).build());
                            out.println("ACK " + ack.getOk() + " " + ack.getDetail());
                            break;
                        }
                        case "stream": {
                            Iterator<ActionResponse> items = stub.streamActions(
                                    ActionRequest.newBuilder().setAgent(agent).setContext(value).build());
                            while (items.hasNext()) {
                                out.println("STREAM " + serverAction(items.next()));
                            }
                            out.println("END");
                            break;
                        }
                        default:
                            throw new IllegalArgumentException("unknown command " + command);
                    }
                } catch (StatusRuntimeException e) {
                    out.println("RPC_ERROR " + e.getStatus().getCode());
                }
            }
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }
}
