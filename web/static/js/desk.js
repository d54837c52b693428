// Agent desk. The live views (status bar, screen-pop, call controls, wrap-up) of the CTI work plug in
// here: listen to `live.store` ("snapshot" and "event") and render into the [data-slot] regions.
import { connectLive } from "./ws.js";

const live = connectLive();
export default live;
