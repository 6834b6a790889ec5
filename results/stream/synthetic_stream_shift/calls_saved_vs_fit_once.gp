set terminal svg size 720,420 noenhanced
set output 'results/stream/synthetic_stream_shift/calls_saved_vs_fit_once.svg'
set title 'synthetic, prior_shift: cumulative calls saved vs fit-once (10 seeds)'
set xlabel 'queries'
set ylabel 'cumulative calls saved vs fit-once'
set key outside right
set grid
set datafile missing 'nan'
plot 'results/stream/synthetic_stream_shift/series.dat' index 0 using 1:5 with lines title 'online', 'results/stream/synthetic_stream_shift/series.dat' index 1 using 1:5 with lines title 'online no memory', 'results/stream/synthetic_stream_shift/series.dat' index 2 using 1:5 with lines title 'periodic', 'results/stream/synthetic_stream_shift/series.dat' index 3 using 1:5 with lines title 'periodic no monitor', 'results/stream/synthetic_stream_shift/series.dat' index 4 using 1:5 with lines title 'fit once'
