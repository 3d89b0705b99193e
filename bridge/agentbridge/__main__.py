from bridge.agentbridge import main

raise SystemExit(main())
