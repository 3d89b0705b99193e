// The seed's python_link agent: it asks the Python tier for actions through the environment's
// request_action/1 and push_percept/1 and reacts to the server_action/2 percepts it gets back.

!start.

+!start <-
    .print("[Jason] requesting first action...");
    request_action("startup").

// The first idle answer: report a sensor reading, then ask again.
+server_action("idle", Meta) : not reported <-
    +reported;
    push_percept("temperature=32C");
    request_action("search").

+server_action(Action, Meta) <-
    .print("python action: ", Action, " ", Meta).

+!again <-
    request_action("search").
