// Supervisor wallboard. The live tiles and agent list of the CTI work plug in here: listen to
// `live.store` ("snapshot" and "event") and render into [data-slot="live-tiles"] and [data-slot="agents"].
import { connectLive } from "./ws.js";

const live = connectLive();
export default live;
