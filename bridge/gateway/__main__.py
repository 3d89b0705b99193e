from bridge.gateway import main

raise SystemExit(main())
