# sidekiq_jobs.rb -- the jobs Sidekiq's workers run (sidekiq -r this file;
# Debian's ruby-sidekiq, its defaults otherwise).  NoopJob counts the job
# in memory; a thread adds the count to bench:done every 10 ms (bench/poll.c
# times the drain from it).  LatJob records its latency, from submission
# to its run (CLOCK_MONOTONIC is one clock for the whole machine), on the
# list bench:lat.
require 'sidekiq'
# redis-rb 4.8 warns on every SADD Sidekiq makes; the warning is not
# Sidekiq's cost, so it is turned off.
Redis.silence_deprecations = true

$bench_done = 0
$bench_lock = Mutex.new

Sidekiq.configure_server do |_config|
  # No log line per job: wq's workers run --quiet too.
  Sidekiq.logger.level = Logger::WARN
  Thread.new do
    loop do
      sleep 0.01
      n = $bench_lock.synchronize { d = $bench_done; $bench_done = 0; d }
      Sidekiq.redis { |c| c.incrby('bench:done', n) } if n > 0
    end
  end
end

class NoopJob
  include Sidekiq::Worker
  sidekiq_options retry: 0

  def perform(x)
    $bench_lock.synchronize { $bench_done += 1 }
    x
  end
end

class LatJob
  include Sidekiq::Worker
  sidekiq_options retry: 0

  def perform(sent)
    lat = (Process.clock_gettime(Process::CLOCK_MONOTONIC) - sent) * 1000
    Sidekiq.redis { |c| c.rpush('bench:lat', lat) }
  end
end
