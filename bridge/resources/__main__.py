from bridge.resources import main

raise SystemExit(main())
